"""Reading a roster CSV: every problem is reported by line, worded for the admin, and bad
rows never stop good ones."""

from labplatform.cohorts.roster import RosterError, RosterRow, parse_roster


def parse(data: bytes):
    return parse_roster(data, filename="roster.csv")


def test_it_reads_good_rows_with_lower_cased_emails_and_line_numbers():
    result = parse(b"email,full name,username\nAda@Example.COM,Ada Lovelace,ada\nalan@example.com,Alan  Turing,\n")
    assert result.file_error is None
    assert result.errors == []
    assert result.rows == [
        RosterRow(line=2, email="ada@example.com", full_name="Ada Lovelace", username="ada"),
        RosterRow(line=3, email="alan@example.com", full_name="Alan Turing", username=None),
    ]


def test_it_accepts_other_spellings_of_the_columns_a_byte_order_mark_and_crlf():
    result = parse(b"\xef\xbb\xbfE-mail_unused,EMAIL,Full_Name\r\nx,grace@example.com,Grace Hopper\r\n")
    assert result.file_error is None
    assert result.rows == [RosterRow(line=2, email="grace@example.com", full_name="Grace Hopper")]


def test_it_accepts_name_for_the_full_name_column():
    result = parse(b"Name,Email\nKatherine Johnson,kj@example.com\n")
    assert result.rows == [RosterRow(line=2, email="kj@example.com", full_name="Katherine Johnson")]


def test_it_names_the_file_the_byte_and_the_line_of_text_that_is_not_utf_8():
    result = parse(b"email,full name\nrene@example.com,Ren\xe9 Descartes\n")
    assert result.rows == []
    assert result.file_error.startswith(
        "roster.csv is not UTF-8 text (byte 0xe9 at position 36) on line 2. Save it from your spreadsheet as"
    )


def test_it_counts_the_position_of_a_bad_byte_from_the_start_of_the_file_even_after_a_byte_order_mark():
    result = parse(b"\xef\xbb\xbfemail,full name\nrene@example.com,Ren\xe9 Descartes\n")
    assert "(byte 0xe9 at position 39) on line 2" in result.file_error


def test_it_names_the_missing_column_and_the_columns_it_found():
    result = parse(b"email,student\nada@example.com,Ada\n")
    assert result.rows == []
    assert result.file_error.startswith(
        'roster.csv has no "full name" column. Its header (line 1) has "email", "student".'
    )


def test_it_suggests_commas_when_the_file_is_separated_by_semicolons():
    result = parse(b"email;full name\nada@example.com;Ada\n")
    assert 'has no "email" or "full name" column' in result.file_error
    assert "separated by semicolons" in result.file_error


def test_it_calls_an_empty_file_empty():
    assert parse(b"").file_error.startswith("roster.csv is empty")
    assert parse(b"\xef\xbb\xbf\n \n").file_error.startswith("roster.csv is empty")


def test_it_says_when_there_are_no_rows_below_the_header():
    assert parse(b"email,full name\n\n").file_error == "roster.csv has a header (line 1) but no rows below it."


def test_it_refuses_two_columns_that_mean_the_same():
    result = parse(b"email,name,full name\n")
    assert result.file_error == 'roster.csv has two full name columns, "name" and "full name": keep one.'


def test_it_reports_each_bad_row_by_line_and_keeps_the_good_ones():
    result = parse(
        b"email,full name,username\n"
        b"ada@example.com,Ada Lovelace,ada\n"
        b"not-an-email,Bad Email,\n"
        b",No Email,\n"
        b"alan@example.com,,\n"
        b"\n"
        b"ADA@example.com,Ada Again,\n"
        b"grace@example.com,Grace Hopper,Ada\n"
        b"kj@example.com,Katherine Johnson,k j!\n"
        b"dorothy@example.com,Dorothy Vaughan,dorothy,extra\n"
        b"mary@example.com,Mary Jackson,mary\n"
    )
    assert result.file_error is None
    assert [row.email for row in result.rows] == ["ada@example.com", "mary@example.com"]
    assert result.rows[1].line == 11
    assert result.errors == [
        RosterError(3, '"not-an-email" is not a valid email address'),
        RosterError(4, "the email is empty"),
        RosterError(5, "the full name is empty"),
        RosterError(7, "the email ada@example.com is already on line 2"),
        RosterError(8, 'the username "Ada" is already on line 2'),
        RosterError(9, 'the username "k j!" is not valid: use only letters, digits and @ . + - _'),
        RosterError(
            10,
            "it has 4 fields but the header has 3: a name or email with a comma in it needs quotes around it",
        ),
    ]


def test_a_quote_left_open_is_reported_on_the_row_where_it_starts_with_the_lines_it_swallowed():
    result = parse(b'email,full name\nada@example.com,"Ada\nLovelace"\nbad,Someone\ngrace@example.com,"Grace\n')
    assert result.rows == []
    assert result.errors == [
        RosterError(2, 'it runs on to line 3: a quote (") in it is not closed'),
        RosterError(4, '"bad" is not a valid email address'),
        RosterError(5, 'a quote (") in it is not closed'),
    ]


def test_a_quoted_name_with_a_comma_is_one_field():
    result = parse(b'email,full name\nada@example.com,"Lovelace, Ada"\n')
    assert result.rows == [RosterRow(line=2, email="ada@example.com", full_name="Lovelace, Ada")]


def test_a_field_too_large_for_csv_is_a_file_error_naming_the_line():
    result = parse(b'email,full name\nada@example.com,A\nb@example.com,"' + b"x" * 200_000 + b'"\n')
    assert result.rows == []
    assert result.file_error == (
        "roster.csv cannot be read as CSV from line 3: field larger than field limit (131072). "
        'A quote (") that is not closed is the usual cause.'
    )


def test_a_control_character_in_a_name_is_a_row_error():
    result = parse(b"email,full name\nada@example.com,A\x00da\n")
    assert result.errors == [RosterError(2, "the full name contains the control character 0x00")]


def test_it_refuses_a_full_name_too_long_for_the_user_model():
    result = parse(b"email,full name\nada@example.com," + b"a" * 151 + b"\n")
    assert result.errors == [RosterError(2, "the full name is longer than 150 characters")]
