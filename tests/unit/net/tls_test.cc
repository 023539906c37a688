// TLS: SNI, TLS 1.2 and 1.3, session resumption, client certificates.
#include <openssl/ssl.h>

#include <filesystem>
#include <fstream>

#include "net_test_util.h"

namespace valk::test {
namespace {

// Responds with what the handler saw of the TLS session.
Handler tls_echo() {
  return [](Request& req, Responder res) {
    const TlsInfo* t = req.tls();
    std::string s = t == nullptr
                        ? "plain"
                        : t->version + "|" + t->alpn + "|" + t->sni + "|" +
                              (t->client_cert_present ? "cert" : "nocert") + "|" +
                              (t->client_cert_verified ? "verified" : "unverified") + "|" +
                              t->client_subject + "|" + std::to_string(t->client_chain_pem.size());
    res.respond(200, {}, s);
  };
}

std::string host_url(const TestServer& s, const char* host) {
  return std::string("https://") + host + ":" + std::to_string(s.port()) + "/";
}

curl_slist* resolve_list(const TestServer& s) {
  std::string port = std::to_string(s.port());
  curl_slist* l = curl_slist_append(nullptr, ("localhost:" + port + ":127.0.0.1").c_str());
  return curl_slist_append(l, ("other.test:" + port + ":127.0.0.1").c_str());
}

TEST(Tls, SniChoosesTheCertificate) {
  TestServer s(tls_options(), tls_echo());
  curl_slist* res = resolve_list(s);
  for (const char* host : {"localhost", "other.test"}) {
    CurlResult r =
        curl_do(host_url(s, host), [res](CURL* c) { curl_easy_setopt(c, CURLOPT_RESOLVE, res); });
    ASSERT_EQ(r.code, CURLE_OK) << host << ": " << curl_easy_strerror(r.code);
    EXPECT_NE(r.body.find(std::string("|h2|") + host + "|"), std::string::npos) << r.body;
  }
  curl_slist_free_all(res);
}

TEST(Tls, Tls12AndTls13) {
  TestServer s(tls_options(), tls_echo());
  CurlResult r12 = curl_do(host_url(s, "localhost"), [](CURL* c) {
    curl_easy_setopt(c, CURLOPT_SSLVERSION,
                     long{CURL_SSLVERSION_TLSv1_2} | long{CURL_SSLVERSION_MAX_TLSv1_2});
  });
  ASSERT_EQ(r12.code, CURLE_OK);
  EXPECT_EQ(r12.body.rfind("TLSv1.2|h2|", 0), 0u) << r12.body;
  CurlResult r13 = curl_do(host_url(s, "localhost"), [](CURL* c) {
    curl_easy_setopt(c, CURLOPT_SSLVERSION, CURL_SSLVERSION_TLSv1_3);
  });
  ASSERT_EQ(r13.code, CURLE_OK);
  EXPECT_EQ(r13.body.rfind("TLSv1.3|h2|", 0), 0u) << r13.body;
}

// A blocking OpenSSL client: handshakes, sends one request, reads the
// reply, and returns the session for the next connection.
SSL_SESSION* tls_roundtrip(SSL_CTX* ctx, uint16_t port, SSL_SESSION* resume, bool* reused) {
  int fd = tcp_connect(port);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  if (resume != nullptr) {
    SSL_set_session(ssl, resume);
  }
  EXPECT_EQ(SSL_connect(ssl), 1);
  const char req[] = "GET / HTTP/1.1\r\nHost: localhost\r\n\r\n";
  SSL_write(ssl, req, sizeof req - 1);
  char buf[4096];
  std::string got;
  while (got.find("\r\n\r\n") == std::string::npos) {
    int n = SSL_read(ssl, buf, sizeof buf);  // TLS 1.3 tickets arrive first
    if (n <= 0) {
      break;
    }
    got.append(buf, n);
  }
  *reused = SSL_session_reused(ssl) == 1;
  SSL_SESSION* sess = SSL_get1_session(ssl);
  SSL_shutdown(ssl);
  SSL_free(ssl);
  close(fd);
  return sess;
}

TEST(Tls, SessionResumption) {
  TestServer s(tls_options(), tls_echo());
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
    SSL_CTX_set_min_proto_version(ctx, version);
    SSL_CTX_set_max_proto_version(ctx, version);
    SSL_CTX_load_verify_locations(ctx, cert_path("ca.crt").c_str(), nullptr);
    bool reused = true;
    SSL_SESSION* first = tls_roundtrip(ctx, s.port(), nullptr, &reused);
    EXPECT_FALSE(reused);
    SSL_SESSION* second = tls_roundtrip(ctx, s.port(), first, &reused);
    EXPECT_TRUE(reused) << version;
    SSL_SESSION_free(first);
    SSL_SESSION_free(second);
    SSL_CTX_free(ctx);
  }
  EXPECT_TRUE(eventually([&] { return s.server().counters()[Counter::kTlsResumed] >= 2; }));
}

TEST(Tls, ClientCertRequired) {
  ServerOptions o = tls_options();
  o.client_cert = ClientCertMode::kRequire;
  o.client_ca_file = cert_path("ca.crt");
  TestServer s(std::move(o), tls_echo());
  CurlResult without = curl_do(host_url(s, "localhost"));
  EXPECT_NE(without.code, CURLE_OK);
  CurlResult with = curl_do(host_url(s, "localhost"), [](CURL* c) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, cert_path("client.crt").c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, cert_path("client.key").c_str());
  });
  ASSERT_EQ(with.code, CURLE_OK) << curl_easy_strerror(with.code);
  EXPECT_NE(with.body.find("|cert|verified|CN=valk-test-client|"), std::string::npos) << with.body;
  EXPECT_TRUE(
      eventually([&] { return s.server().counters()[Counter::kTlsHandshakeFailures] >= 1; }));
}

TEST(Tls, ClientCertRequested) {
  ServerOptions o = tls_options();
  o.client_cert = ClientCertMode::kRequest;
  o.client_ca_file = cert_path("ca.crt");
  TestServer s(std::move(o), tls_echo());
  CurlResult without = curl_do(host_url(s, "localhost"));
  ASSERT_EQ(without.code, CURLE_OK);
  EXPECT_NE(without.body.find("|nocert|"), std::string::npos) << without.body;
  // A certificate the CA did not sign is reported, not refused.
  CurlResult self_signed = curl_do(host_url(s, "localhost"), [](CURL* c) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, cert_path("ca.crt").c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, cert_path("ca.key").c_str());
  });
  ASSERT_EQ(self_signed.code, CURLE_OK);
  EXPECT_NE(self_signed.body.find("|cert|"), std::string::npos) << self_signed.body;
}

TEST(Tls, PlainAndTlsListenersSideBySide) {
  ServerOptions o = tls_options();
  o.listen = {ListenAddress{"127.0.0.1", 0, false}, ListenAddress{"::1", 0, true}};
  TestServer s(o, tls_echo());
  CurlResult plain = curl_do("http://127.0.0.1:" + std::to_string(s.server().port(0)) + "/");
  ASSERT_EQ(plain.code, CURLE_OK);
  EXPECT_EQ(plain.body, "plain");
  curl_slist* res = curl_slist_append(
      nullptr, ("localhost:" + std::to_string(s.server().port(1)) + ":[::1]").c_str());
  CurlResult tls = curl_do("https://localhost:" + std::to_string(s.server().port(1)) + "/",
                           [res](CURL* c) { curl_easy_setopt(c, CURLOPT_RESOLVE, res); });
  curl_slist_free_all(res);
  ASSERT_EQ(tls.code, CURLE_OK) << curl_easy_strerror(tls.code);
  EXPECT_EQ(tls.body.rfind("TLSv1.3|h2|localhost|", 0), 0u) << tls.body;
}

TEST(Tls, PlainHttpRedirectsToHttps) {
  ServerOptions o = tls_options();
  o.listen = {ListenAddress{"127.0.0.1", 0, false}};
  o.https_redirect_port = 8443;
  TestServer s(o, hello_handler());
  CurlResult r = curl_do(s.url("/a/b?c=d"));
  ASSERT_EQ(r.code, CURLE_OK);
  EXPECT_EQ(r.status, 308);
  EXPECT_NE(r.headers.find("location: https://127.0.0.1:8443/a/b?c=d"), std::string::npos)
      << r.headers;
}

TEST(Tls, BadCertificateFileFailsStart) {
  ServerOptions o = base_options();
  o.certificates = {{cert_path("missing.crt"), cert_path("dev.key")}};
  Server s(o, hello_handler());
  std::string err;
  EXPECT_FALSE(s.start(&err));
  EXPECT_NE(err.find("missing.crt"), std::string::npos) << err;
}

// One libcurl handle: its requests reuse one connection while they can.
class CurlSession {
 public:
  explicit CurlSession(curl_slist* resolve) : c_(curl_easy_init()) {
    curl_defaults(c_);
    curl_easy_setopt(c_, CURLOPT_RESOLVE, resolve);
    curl_easy_setopt(c_, CURLOPT_WRITEFUNCTION, curl_collect);
    curl_easy_setopt(c_, CURLOPT_WRITEDATA, &body_);
  }
  ~CurlSession() { curl_easy_cleanup(c_); }
  // The body, or "" with the error in *code; *new_connections counts the
  // connections the request opened.
  std::string get(const std::string& url, CURLcode* code, long* new_connections) {
    body_.clear();
    curl_easy_setopt(c_, CURLOPT_URL, url.c_str());
    *code = curl_easy_perform(c_);
    curl_easy_getinfo(c_, CURLINFO_NUM_CONNECTS, new_connections);
    return body_;
  }

 private:
  CURL* c_;
  std::string body_;
};

TEST(Tls, ReloadedCertificatesServeNewConnectionsAndOpenOnesKeepTheirs) {
  std::string copy = testing::TempDir() + "/reload_default";
  ServerOptions o = base_options();
  o.certificates = {copy_certificate("dev", copy),
                    {cert_path("other.crt"), cert_path("other.key")}};
  TestServer s(o, tls_echo());
  curl_slist* res = resolve_list(s);
  CURLcode code;
  long opened = 0;
  // A connection to the SNI certificate, and one to the default.
  CurlSession sni(res), plain(res);
  EXPECT_NE(sni.get(host_url(s, "other.test"), &code, &opened).find("|other.test|"),
            std::string::npos);
  ASSERT_EQ(code, CURLE_OK);
  EXPECT_NE(plain.get(host_url(s, "localhost"), &code, &opened), "");
  ASSERT_EQ(code, CURLE_OK);

  // The default certificate becomes other.test's: localhost no longer
  // verifies on a new connection.
  copy_certificate("other", copy);
  std::string error;
  ASSERT_TRUE(s.server().reload_certificates(&error)) << error;
  CurlSession fresh(res);
  fresh.get(host_url(s, "localhost"), &code, &opened);
  EXPECT_EQ(code, CURLE_PEER_FAILED_VERIFICATION) << curl_easy_strerror(code);

  // The connections made before go on, on what they were given (the
  // replaced contexts live on through OpenSSL's reference counts).
  EXPECT_NE(sni.get(host_url(s, "other.test"), &code, &opened).find("|other.test|"),
            std::string::npos);
  EXPECT_EQ(code, CURLE_OK);
  EXPECT_EQ(opened, 0);
  EXPECT_NE(plain.get(host_url(s, "localhost"), &code, &opened), "");
  EXPECT_EQ(code, CURLE_OK);
  EXPECT_EQ(opened, 0);
  curl_slist_free_all(res);
}

TEST(Tls, ReloadedClientCaDecidesWhichClientsGetIn) {
  // At first the file holds a CA that did not sign the client's
  // certificate (other.test's certificate), then the one that did.
  std::string ca = testing::TempDir() + "/reload_client_ca.crt";
  std::filesystem::copy_file(cert_path("other.crt"), ca,
                             std::filesystem::copy_options::overwrite_existing);
  ServerOptions o = tls_options();
  o.client_cert = ClientCertMode::kRequire;
  o.client_ca_file = ca;
  TestServer s(std::move(o), tls_echo());
  auto with_client_cert = [&] {
    return curl_do(host_url(s, "localhost"), [](CURL* c) {
      curl_easy_setopt(c, CURLOPT_SSLCERT, cert_path("client.crt").c_str());
      curl_easy_setopt(c, CURLOPT_SSLKEY, cert_path("client.key").c_str());
    });
  };
  EXPECT_NE(with_client_cert().code, CURLE_OK);
  std::filesystem::copy_file(cert_path("ca.crt"), ca,
                             std::filesystem::copy_options::overwrite_existing);
  std::string error;
  ASSERT_TRUE(s.server().reload_certificates(&error)) << error;
  CurlResult in = with_client_cert();
  ASSERT_EQ(in.code, CURLE_OK) << curl_easy_strerror(in.code);
  EXPECT_NE(in.body.find("|cert|verified|CN=valk-test-client|"), std::string::npos) << in.body;
  // A client CA file that no longer loads changes nothing.
  std::ofstream(ca) << "not a certificate\n";
  EXPECT_FALSE(s.server().reload_certificates(&error));
  EXPECT_NE(error.find("reload_client_ca.crt"), std::string::npos) << error;
  EXPECT_EQ(with_client_cert().code, CURLE_OK);
}

TEST(Tls, AFailedReloadKeepsTheCertificates) {
  ServerOptions o = base_options();
  o.certificates = {copy_certificate("dev", testing::TempDir() + "/reload_broken")};
  TestServer s(o, tls_echo());
  std::ofstream(o.certificates[0].cert_file) << "not a certificate\n";
  std::string error;
  EXPECT_FALSE(s.server().reload_certificates(&error));
  EXPECT_NE(error.find("reload_broken.crt"), std::string::npos) << error;
  CurlResult r = curl_get(s.url("/", true), CURL_HTTP_VERSION_2TLS);
  EXPECT_EQ(r.code, CURLE_OK) << curl_easy_strerror(r.code);
  EXPECT_EQ(r.status, 200);
}

TEST(Tls, ReloadWithoutCertificatesDoesNothing) {
  TestServer s(base_options(), hello_handler());
  std::string error;
  EXPECT_TRUE(s.server().reload_certificates(&error)) << error;
  EXPECT_EQ(curl_get(s.url("/"), CURL_HTTP_VERSION_1_1).status, 200);
}

}  // namespace
}  // namespace valk::test
