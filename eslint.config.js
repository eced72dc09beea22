// ESLint for the first-party browser scripts (`npx --no-install eslint .`, in `make lint`
// and scripts/test.sh). They are plain scripts, no bundler: each is loaded by a <script>
// tag and shares what it must through window (window.labSocket, window.labEvents, …).
const js = require("@eslint/js");
const globals = require("globals");

module.exports = [
  {
    // Vendored libraries, collected static files and everything that is not ours.
    ignores: [
      "node_modules/",
      "labplatform/static/vendor/",
      "staticfiles/",
      "**/staticfiles/",
      ".venv/",
      ".run/",
      "bench/results/",
    ],
  },
  js.configs.recommended,
  {
    files: ["labplatform/**/static/**/*.js", "lessons/**/static/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "script",
      globals: { ...globals.browser },
    },
  },
  {
    // Browser tests: code run in the page, and Node tooling beside it.
    files: ["tests/**/*.js"],
    languageOptions: {
      ecmaVersion: 2022,
      sourceType: "script",
      globals: { ...globals.browser, ...globals.node },
    },
  },
  {
    files: ["eslint.config.js"],
    languageOptions: { sourceType: "commonjs", globals: { ...globals.node } },
  },
];
