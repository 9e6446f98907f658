// Command s3server is the S3-compatible server the tests run: gofakes3 (MIT) with its in-memory
// backend, plus AWS Signature Version 4 checking of every request (gofakes3 checks none), so a
// client with a wrong access key or secret gets 403 as from a real S3.
//
//	S3SERVER_ACCESS_KEY=ak S3SERVER_SECRET_KEY=sk s3server -addr 127.0.0.1:9000 -bucket sedna
//
// The credentials come from the environment (never the command line, which `ps` shows). Without
// them every request is accepted, as by gofakes3 itself. Prints "listening on ADDR" once ready.
//
// What is checked: the Authorization header's access key and its SigV4 signature over the
// method, path, query, signed headers and the x-amz-content-sha256 value the client sent. Not
// checked: that the body matches that hash, request time skew, and presigned (query-string)
// URLs, which are refused like anonymous requests.
package main

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"net"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

type buckets []string

func (b *buckets) String() string     { return strings.Join(*b, ",") }
func (b *buckets) Set(v string) error { *b = append(*b, v); return nil }

func main() {
	addr := flag.String("addr", "127.0.0.1:9000", "host:port to listen on")
	quiet := flag.Bool("quiet", false, "do not log each request")
	var initial buckets
	flag.Var(&initial, "bucket", "bucket to create at start (repeatable)")
	flag.Parse()

	backend := s3mem.New()
	for _, name := range initial {
		if err := backend.CreateBucket(name); err != nil {
			log.Fatalf("creating bucket %s: %v", name, err)
		}
	}
	opts := []gofakes3.Option{gofakes3.WithoutVersioning()}
	if *quiet {
		opts = append(opts, gofakes3.WithLogger(gofakes3.DiscardLog()))
	}
	faker := gofakes3.New(backend, opts...)
	var handler = faker.Server()
	access, secret := os.Getenv("S3SERVER_ACCESS_KEY"), os.Getenv("S3SERVER_SECRET_KEY")
	if access != "" {
		handler = &sigV4{next: handler, access: access, secret: secret}
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		log.Fatalf("listen %s: %v", *addr, err)
	}
	fmt.Printf("listening on %s\n", ln.Addr())
	log.Fatal(http.Serve(ln, handler))
}

type sigV4 struct {
	next           http.Handler
	access, secret string
}

func s3Error(w http.ResponseWriter, code, message string) {
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(http.StatusForbidden)
	fmt.Fprintf(w, `<?xml version="1.0" encoding="UTF-8"?><Error><Code>%s</Code><Message>%s</Message></Error>`, code, message)
}

// awsEscape is SigV4's URI encoding: everything but A-Z a-z 0-9 - _ . ~ is %XX.
func awsEscape(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

func canonicalQuery(raw string) string {
	var pairs []string
	for _, part := range strings.Split(raw, "&") {
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		k, _ = url.QueryUnescape(k)
		v, _ = url.QueryUnescape(v)
		if k == "X-Amz-Signature" {
			continue
		}
		pairs = append(pairs, awsEscape(k)+"="+awsEscape(v))
	}
	sort.Strings(pairs)
	return strings.Join(pairs, "&")
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

func (s *sigV4) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	auth := r.Header.Get("Authorization")
	const algo = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algo) {
		s3Error(w, "AccessDenied", "anonymous or non-SigV4 request refused: sign with an access key")
		return
	}
	fields := map[string]string{}
	for _, f := range strings.Split(strings.TrimPrefix(auth, algo), ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(f), "=")
		fields[k] = v
	}
	scope := strings.SplitN(fields["Credential"], "/", 2)
	if len(scope) != 2 || scope[0] != s.access {
		s3Error(w, "InvalidAccessKeyId", "The AWS Access Key Id you provided does not exist in our records.")
		return
	}
	signed := strings.Split(fields["SignedHeaders"], ";")
	var headers strings.Builder
	for _, name := range signed {
		var value string
		switch name {
		case "host":
			value = r.Host
		case "content-length":
			value = r.Header.Get("Content-Length")
			if value == "" {
				value = strconv.FormatInt(r.ContentLength, 10)
			}
		default:
			vals := r.Header.Values(name)
			for i, v := range vals {
				vals[i] = strings.Join(strings.Fields(v), " ")
			}
			value = strings.Join(vals, ",")
		}
		headers.WriteString(name + ":" + strings.TrimSpace(value) + "\n")
	}
	path, rawQuery, _ := strings.Cut(r.RequestURI, "?")
	payload := r.Header.Get("X-Amz-Content-Sha256")
	if payload == "" {
		payload = "UNSIGNED-PAYLOAD"
	}
	canonical := strings.Join([]string{r.Method, path, canonicalQuery(rawQuery), headers.String(), fields["SignedHeaders"], payload}, "\n")
	digest := sha256.Sum256([]byte(canonical))
	amzDate := r.Header.Get("X-Amz-Date")
	toSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + scope[1] + "\n" + hex.EncodeToString(digest[:])
	parts := strings.Split(scope[1], "/") // date/region/service/aws4_request
	if len(parts) != 4 {
		s3Error(w, "AuthorizationHeaderMalformed", "bad credential scope")
		return
	}
	key := []byte("AWS4" + s.secret)
	for _, p := range parts {
		key = hmacSHA256(key, p)
	}
	want := hex.EncodeToString(hmacSHA256(key, toSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		s3Error(w, "SignatureDoesNotMatch", "The request signature we calculated does not match the signature you provided. Check your key and signing method.")
		return
	}
	s.next.ServeHTTP(w, r)
}
