// node-proxy: the only way from this host into the real node's network namespace.
//
// The node's kubelet listens on an address that exists only inside that namespace, which
// has no link to the host. This HTTP CONNECT proxy joins a CONNECT to one of the node's
// names at the kubelet's port to a Unix socket that a relay inside the namespace forwards
// to the kubelet. Nothing is resolved: a target is a route's name or refused.
//
//   - On a Unix socket in a root-only folder it serves the API server, whose egress
//     selector sends all its traffic to nodes through it (exec, attach, logs); there, a
//     target on loopback (KWOK's relays, metrics-server) is also dialled as it is, with
//     "localhost" taken as 127.0.0.1.
//
//   - On 127.0.0.1 it serves metrics-server (its HTTPS_PROXY): the routes only.
//
//     node-proxy -listen 127.0.0.1:PORT -listen-unix /path/proxy.sock \
//     -route labplatform-node:10250=/path/kubelet.sock -route 10.250.0.1:10250=/path/kubelet.sock
package main

import (
	"bufio"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"
)

type routes map[string]string

func (r routes) String() string { return fmt.Sprint(map[string]string(r)) }

func (r routes) Set(value string) error {
	target, socket, ok := strings.Cut(value, "=")
	if !ok || target == "" || !strings.HasPrefix(socket, "/") {
		return fmt.Errorf("route %q: want HOST:PORT=/path/to/socket", value)
	}
	if _, _, err := net.SplitHostPort(target); err != nil {
		return fmt.Errorf("route %q: %v", value, err)
	}
	r[target] = socket
	return nil
}

func main() {
	listen := flag.String("listen", "", "loopback address to listen on (127.0.0.1:PORT)")
	listenUnix := flag.String("listen-unix", "", "Unix socket to listen on, for the API server")
	table := routes{}
	flag.Var(table, "route", "HOST:PORT=/unix/socket, a CONNECT target this proxy joins (repeatable)")
	flag.Parse()
	host, _, err := net.SplitHostPort(*listen)
	if err != nil || !net.ParseIP(host).IsLoopback() || *listenUnix == "" || len(table) == 0 {
		fmt.Fprintln(os.Stderr, "usage: node-proxy -listen 127.0.0.1:PORT -listen-unix SOCKET -route HOST:PORT=/socket ...")
		os.Exit(2)
	}
	tcp, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatal(err)
	}
	os.Remove(*listenUnix)
	unix, err := net.Listen("unix", *listenUnix)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.Chmod(*listenUnix, 0o600); err != nil {
		log.Fatal(err)
	}
	log.Printf("node-proxy on %s and %s, routes %v", *listen, *listenUnix, table)
	go accept(unix, table, true)
	accept(tcp, table, false)
}

func accept(listener net.Listener, table routes, loopback bool) {
	for {
		conn, err := listener.Accept()
		if err != nil {
			log.Print(err)
			time.Sleep(100 * time.Millisecond)
			continue
		}
		go serve(conn, table, loopback)
	}
}

// dial joins the target: a route's socket or, if allowed, a loopback address.
func dial(target string, table routes, loopback bool) (net.Conn, error) {
	if socket, known := table[target]; known {
		return net.DialTimeout("unix", socket, 5*time.Second)
	}
	host, port, err := net.SplitHostPort(target)
	if err != nil || !loopback {
		return nil, errRefused
	}
	if host == "localhost" {
		host = "127.0.0.1"
	}
	if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
		return nil, errRefused
	}
	return net.DialTimeout("tcp", net.JoinHostPort(host, port), 5*time.Second)
}

var errRefused = fmt.Errorf("not a target of this proxy")

func serve(client net.Conn, table routes, loopback bool) {
	defer client.Close()
	client.SetReadDeadline(time.Now().Add(10 * time.Second))
	reader := bufio.NewReader(client)
	request, err := http.ReadRequest(reader)
	if err != nil {
		return
	}
	if request.Method != http.MethodConnect {
		log.Printf("refused %s %s", request.Method, request.Host)
		fmt.Fprintf(client, "HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
		return
	}
	upstream, err := dial(request.Host, table, loopback)
	if err == errRefused {
		log.Printf("refused CONNECT %s", request.Host)
		fmt.Fprintf(client, "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n")
		return
	}
	if err != nil {
		log.Printf("%s: %v", request.Host, err)
		fmt.Fprintf(client, "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
		return
	}
	defer upstream.Close()
	client.SetReadDeadline(time.Time{})
	fmt.Fprintf(client, "HTTP/1.1 200 Connection established\r\n\r\n")
	var wait sync.WaitGroup
	wait.Add(2)
	go func() { // what the client sent after its CONNECT may already be buffered
		defer wait.Done()
		io.Copy(upstream, reader)
		closeWrite(upstream)
	}()
	go func() {
		defer wait.Done()
		io.Copy(client, upstream)
		closeWrite(client)
	}()
	wait.Wait()
}

// closeWrite passes an end of stream on, leaving the other direction open.
func closeWrite(conn net.Conn) {
	if half, ok := conn.(interface{ CloseWrite() error }); ok {
		half.CloseWrite()
	}
}
