// `valk serve` options for running in production: HTTPS beside plain HTTP
// with a redirect, several certificates by SNI, client certificates, the
// error log's file and level, connection limits and timeouts, and options
// the app misspells. Each test runs `valk serve` and talks to it over real
// sockets.
#include <gtest/gtest.h>
#include <sys/resource.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include "../net/net_test_util.h"
#include "serve_process.h"

namespace valk::test {
namespace {

// The port of the https:// address valk serve reported, or 0.
uint16_t https_port(const ServeProcess& p) {
  std::smatch m;
  std::regex https("https://[^ ]*:([0-9]+)");
  if (!std::regex_search(p.output(), m, https)) {
    return 0;
  }
  return static_cast<uint16_t>(std::stoi(m[1]));
}

// GET https://NAME:PORT/ with NAME resolving to 127.0.0.1, so the client
// asks for NAME's certificate (SNI) and checks it against NAME.
CurlResult get_as(const std::string& name, uint16_t port, const std::string& path) {
  std::string p = std::to_string(port);
  return curl_do("https://" + name + ":" + p + path, [&](CURL* c) {
    static curl_slist* resolve = nullptr;
    curl_slist_free_all(resolve);
    resolve = curl_slist_append(nullptr, (name + ":" + p + ":127.0.0.1").c_str());
    curl_easy_setopt(c, CURLOPT_RESOLVE, resolve);
  });
}

const char* kEchoApp = "(serve (fn [req] (str \"app \" (:path req))) {:port 0})\n";

// The handler sees the connection's TLS facts and the client certificate.
const char* kTlsApp = R"((serve (fn [req]
  (let [t (:tls req)]
    (if (nil? t)
      "plain"
      (str (:version t) " " (:alpn t) " " (:sni t) " " (:resumed t) " "
           (if-let [c (:client-cert t)]
             (str (:subject c) " " (:verified c) " " (count (:chain c)) " "
                  (starts-with? (first (:chain c)) "-----BEGIN CERTIFICATE-----"))
             "no-cert")))))
  {:port 0})
)";

TEST(ServeOptions, TlsPortServesHttpsBesidePlainHttp) {
  std::string app = write_app("tls_port_app.lisp", kEchoApp);
  ServeProcess p({"--tls-port", "0", "--tls-cert", cert_path("dev.crt"), "--tls-key",
                  cert_path("dev.key"), app});
  ASSERT_NE(p.port(), 0) << p.output();
  uint16_t tls = https_port(p);
  ASSERT_NE(tls, 0) << p.output();
  EXPECT_NE(p.output().find("on http://127.0.0.1:" + std::to_string(p.port()) + " and https://"),
            std::string::npos)
      << p.output();
  EXPECT_EQ(curl_get(p.url("/a"), CURL_HTTP_VERSION_1_1).body, "app /a");
  CurlResult h2c = curl_get(p.url("/b"), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE);
  EXPECT_EQ(h2c.body, "app /b");
  EXPECT_EQ(h2c.version, CURL_HTTP_VERSION_2_0);
  CurlResult h2 =
      curl_get("https://127.0.0.1:" + std::to_string(tls) + "/c", CURL_HTTP_VERSION_2TLS);
  EXPECT_EQ(h2.body, "app /c");
  EXPECT_EQ(h2.version, CURL_HTTP_VERSION_2_0);
  EXPECT_EQ(p.signal_and_wait(SIGTERM), 0) << p.output();
}

TEST(ServeOptions, HttpsRedirectSendsPlainRequestsToTheTlsPort) {
  std::string app = write_app("redirect_app.lisp", kEchoApp);
  uint16_t tls = free_port();
  ServeProcess p({"--tls-port", std::to_string(tls), "--https-redirect", "--tls-cert",
                  cert_path("dev.crt"), "--tls-key", cert_path("dev.key"), app});
  ASSERT_NE(p.port(), 0) << p.output();
  EXPECT_NE(p.output().find("(redirecting to https)"), std::string::npos) << p.output();
  for (long version : {CURL_HTTP_VERSION_1_1, CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE}) {
    CurlResult r = curl_get(p.url("/a/b?c=d"), version);
    EXPECT_EQ(r.status, 308);
    EXPECT_NE(r.headers.find("location: https://127.0.0.1:" + std::to_string(tls) + "/a/b?c=d"),
              std::string::npos)
        << r.headers;
    EXPECT_EQ(r.body.find("app"), std::string::npos) << r.body;
  }
  EXPECT_EQ(
      curl_get("https://127.0.0.1:" + std::to_string(tls) + "/a", CURL_HTTP_VERSION_2TLS).body,
      "app /a");
}

TEST(ServeOptions, SniChoosesAmongCertificates) {
  std::string app = write_app("sni_app.lisp", kTlsApp);
  ServeProcess p({"--tls-cert", cert_path("dev.crt"), "--tls-key", cert_path("dev.key"),
                  "--tls-cert", cert_path("other.crt"), "--tls-key", cert_path("other.key"),
                  "--workers", "1", app});
  ASSERT_NE(p.port(), 0) << p.output();
  // curl verifies the certificate against the name: each name must get its
  // own. Names in turn: each request's :tls says its own.
  for (std::string name : {"localhost", "other.test", "other.test", "localhost"}) {
    CurlResult r = get_as(name, p.port(), "/sni");
    EXPECT_EQ(r.code, CURLE_OK) << name << ": " << curl_easy_strerror(r.code);
    EXPECT_EQ(r.body, "TLSv1.3 h2 " + name + " false no-cert") << name;
  }
}

TEST(ServeOptions, ClientCertificatesAreRequiredOrRequested) {
  std::string app = write_app("mtls_app.lisp", kTlsApp);
  auto with_client_cert = [](CURL* c) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, cert_path("client.crt").c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, cert_path("client.key").c_str());
  };
  const std::string client = "TLSv1.3 h2 localhost false CN=valk-test-client true 2 true";
  {
    ServeProcess p({"--tls-cert", cert_path("dev.crt"), "--tls-key", cert_path("dev.key"),
                    "--client-ca", cert_path("ca.crt"), app});
    ASSERT_NE(p.port(), 0) << p.output();
    EXPECT_NE(curl_do(p.url("/", true)).code, CURLE_OK);
    std::string url = "https://localhost:" + std::to_string(p.port()) + "/";
    EXPECT_EQ(curl_do(url, with_client_cert).body, client);
  }
  ServeProcess p({"--tls-cert", cert_path("dev.crt"), "--tls-key", cert_path("dev.key"),
                  "--tls-port", "0", "--client-ca", cert_path("ca.crt"), "--client-cert", "request",
                  app});
  ASSERT_NE(p.port(), 0) << p.output();
  std::string url = "https://localhost:" + std::to_string(https_port(p)) + "/";
  EXPECT_EQ(curl_do(url).body, "TLSv1.3 h2 localhost false no-cert");
  EXPECT_EQ(curl_do(url, with_client_cert).body, client);
  CurlResult h1 = curl_do(url, [](CURL* c) {
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_SSLVERSION,
                     static_cast<long>(CURL_SSLVERSION_TLSv1_2) | CURL_SSLVERSION_MAX_TLSv1_2);
  });
  EXPECT_EQ(h1.body, "TLSv1.2 http/1.1 localhost false no-cert");
  EXPECT_EQ(curl_get(p.url("/"), CURL_HTTP_VERSION_1_1).body, "plain");
}

// The same settings from the app's options map.
TEST(ServeOptions, TheAppsOptionsMapSaysTheSame) {
  std::string app =
      write_app("options_app.lisp",
                "(serve (fn [req] \"from the app\")\n"
                "  {:port 0 :tls-port 0 :idle-timeout 300 :log-level :error :max-connections 50\n"
                "   :tls {:cert \"" +
                    cert_path("dev.crt") + "\" :key \"" + cert_path("dev.key") +
                    "\"\n"
                    "         :sni [{:cert \"" +
                    cert_path("other.crt") + "\" :key \"" + cert_path("other.key") +
                    "\"}]\n"
                    "         :client-ca \"" +
                    cert_path("ca.crt") + "\" :client-cert :request}})\n");
  ServeProcess p({app});
  ASSERT_NE(p.port(), 0) << p.output();
  uint16_t tls = https_port(p);
  ASSERT_NE(tls, 0) << p.output();
  CurlResult other = get_as("other.test", tls, "/");
  EXPECT_EQ(other.body, "from the app") << curl_easy_strerror(other.code);
  EXPECT_EQ(curl_get(p.url("/"), CURL_HTTP_VERSION_1_1).body, "from the app");
  // :idle-timeout 300: a keep-alive connection with no request in flight
  // is closed after about that long (the default would be 60 s).
  int fd = tcp_connect(p.port());
  ASSERT_GE(fd, 0);
  ASSERT_TRUE(send_all(fd, "GET / HTTP/1.1\r\nhost: x\r\n\r\n"));
  auto answered = [](const std::string& d) { return d.find("from the app") != std::string::npos; };
  ASSERT_TRUE(answered(read_until(fd, answered)));
  auto start = std::chrono::steady_clock::now();
  bool closed = false;
  read_until(
      fd, [](const std::string&) { return false; }, 5000, &closed);
  EXPECT_TRUE(closed);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(3));
  close(fd);
}

TEST(ServeOptions, DrainTimeoutCutsWhatOutlastsIt) {
  std::string app = write_app("slow_drain_app.lisp",
                              "(serve (fn [r] (await (sleep 20000)) \"late\") {:port 0})\n");
  ServeProcess p({"--drain-timeout", "300", app});
  ASSERT_NE(p.port(), 0) << p.output();
  CurlResult r;
  std::thread client([&] { r = curl_get(p.url("/"), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE); });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto start = std::chrono::steady_clock::now();
  EXPECT_EQ(p.signal_and_wait(SIGTERM), 0) << p.output();
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(5));
  client.join();
  EXPECT_NE(r.body, "late");
}

TEST(ServeOptions, MaxConnectionsHoldsTheNextOneBack) {
  std::string app = write_app("one_conn_app.lisp", kEchoApp);
  // One thread: the limit is split over the threads (each takes its share).
  ServeProcess p({"--max-connections", "1", "--threads", "1", app});
  ASSERT_NE(p.port(), 0) << p.output();
  int first = tcp_connect(p.port());
  ASSERT_GE(first, 0);
  ASSERT_TRUE(send_all(first, "GET /1 HTTP/1.1\r\nhost: x\r\n\r\n"));
  auto answered = [](const std::string& d) { return d.find("app /1") != std::string::npos; };
  ASSERT_TRUE(answered(read_until(first, answered)));
  // The kernel completes the second handshake, but valk does not take it
  // while the first is open.
  int second = tcp_connect(p.port());
  ASSERT_GE(second, 0);
  ASSERT_TRUE(send_all(second, "GET /2 HTTP/1.1\r\nhost: x\r\n\r\n"));
  auto second_answered = [](const std::string& d) { return d.find("app /2") != std::string::npos; };
  EXPECT_FALSE(second_answered(read_until(second, second_answered, 500)));
  close(first);
  EXPECT_TRUE(second_answered(read_until(second, second_answered)));
  close(second);
}

// The soft limit on open descriptors, read from /proc/PID/limits.
uint64_t descriptor_limit_of(pid_t pid) {
  std::ifstream limits("/proc/" + std::to_string(pid) + "/limits");
  std::string line;
  while (std::getline(limits, line)) {
    if (line.starts_with("Max open files")) {
      return std::stoull(line.substr(std::string("Max open files").size()));
    }
  }
  return 0;
}

// At startup the soft limit on descriptors goes up to the hard one; a
// hard limit short of --max-connections gets a warning.
TEST(ServeOptions, TheDescriptorLimitIsRaisedOrFoundShort) {
  std::string app = write_app("descriptors_app.lisp", kEchoApp);
  rlimit mine;
  ASSERT_EQ(getrlimit(RLIMIT_NOFILE, &mine), 0);
  {
    ServeProcess p({"--max-connections", "100", app}, [] {
      rlimit l;
      getrlimit(RLIMIT_NOFILE, &l);
      l.rlim_cur = 256;
      setrlimit(RLIMIT_NOFILE, &l);
    });
    ASSERT_NE(p.port(), 0) << p.output();
    EXPECT_EQ(descriptor_limit_of(p.pid()), mine.rlim_max);
    EXPECT_EQ(p.output().find("open descriptors are limited"), std::string::npos) << p.output();
  }
  ServeProcess p({"--max-connections", "1000", app}, [] {
    rlimit l = {256, 512};
    setrlimit(RLIMIT_NOFILE, &l);
  });
  ASSERT_NE(p.port(), 0) << p.output();
  EXPECT_EQ(descriptor_limit_of(p.pid()), 512u);
  EXPECT_NE(p.output().find("valk: warning: open descriptors are limited to 512, short of the "
                            "1000 connections the server may hold: raise the limit (ulimit -n, "
                            "or systemd's LimitNOFILE=), or lower --max-connections\n"),
            std::string::npos)
      << p.output();
}

TEST(ServeOptions, MisspelledOrBadOptionsStopTheServerAtStartup) {
  struct Case {
    const char* options;
    const char* message;
  } cases[] = {
      {"{:prot 8080}", "serve: unknown option :prot (known: :host :port"},
      {"{:port 0 :tls {:cert \"a\" :key \"b\" :ca \"c\"}}", "serve: unknown option :tls :ca"},
      {"{:port 0 :log-level :loud}",
       "serve: :log-level must be :debug or :info or :warn or :error or :off, got :loud"},
      {"{:port 0 :tls {:cert \"a\"}}", "serve: :tls needs both :cert and :key"},
      {"{:port 0 :tls {:cert \"a\" :key \"b\" :sni [{:cert \"c\"}]}}",
       "serve: :tls :sni needs both :cert and :key"},
      {"{:port 0 :tls {:cert \"a\" :key \"b\" :client-cert :maybe}}",
       "serve: :tls :client-cert must be :request or :require, got :maybe"},
      {"{:port 0 :idle-timeout -1}", "serve: :idle-timeout must be an integer from 0"},
      {"{:port 0 :allocation-budget \"1G\"}",
       "serve: :allocation-budget must be an integer from 0"},
      {"{:port 0 :https-redirect true}", "the redirect to HTTPS needs a fixed TLS port"},
      {"{:port 0 :tls-port 0}", "a TLS port and client certificates need a certificate"},
  };
  for (const Case& c : cases) {
    std::string app =
        write_app("bad_options.lisp", std::string("(serve (fn [r] \"x\") ") + c.options + ")\n");
    ServeProcess p({app});
    EXPECT_EQ(p.wait_exit(), 1) << c.options;
    EXPECT_NE(p.output().find(c.message), std::string::npos) << c.options << "\n" << p.output();
  }
  std::string app = write_app("good_options.lisp", kEchoApp);
  struct Flags {
    std::vector<std::string> args;
    const char* message;
  } flags[] = {
      {{"--log-level", "loud"}, "--log-level must be debug, info, warn, error or off"},
      {{"--tls-cert", cert_path("dev.crt")}, "give --tls-cert and --tls-key in pairs"},
      {{"--client-cert", "maybe"}, "--client-cert must be require or request"},
      {{"--idle-timeout", "soon"},
       "--idle-timeout must be milliseconds from 0 to 86400000, got 'soon'"},
      {{"--port", "70000"}, "--port must be a port from 0 to 65535, got '70000'"},
      {{"--instruction-budget", "-1"}, "--instruction-budget must be a count from 0 to"},
      {{"--allocation-budget", "1G"}, "--allocation-budget must be bytes from 0 to"},
  };
  for (Flags& f : flags) {
    f.args.push_back(app);
    ServeProcess p(f.args);
    EXPECT_EQ(p.wait_exit(), 2) << f.args[0];
    EXPECT_NE(p.output().find(f.message), std::string::npos) << f.args[0] << "\n" << p.output();
  }
}

TEST(ServeOptions, LispErrorsGoToTheErrorLogAtItsLevel) {
  std::string app = write_app("failing_app.lisp",
                              "(serve (fn [req] (throw (ex-info \"broken handler\" {}))) "
                              "{:port 0})\n");
  std::string log = testing::TempDir() + "/serve_error.log";
  std::filesystem::remove(log);
  {
    ServeProcess p({"--error-log", log, app});
    ASSERT_NE(p.port(), 0) << p.output();
    EXPECT_EQ(curl_get(p.url("/x"), CURL_HTTP_VERSION_1_1).status, 500);
    EXPECT_EQ(p.signal_and_wait(SIGTERM), 0) << p.output();
    EXPECT_EQ(p.output().find("broken handler"), std::string::npos) << p.output();
  }
  std::string text = read_file(log);
  EXPECT_TRUE(std::regex_search(
      text, std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ \[error\] \[worker \d\] request )"
                       R"(\S+ GET /x: .*broken handler)")))
      << text;
  // At level off nothing is written.
  std::filesystem::remove(log);
  {
    ServeProcess p({"--error-log", log, "--log-level", "off", app});
    ASSERT_NE(p.port(), 0) << p.output();
    EXPECT_EQ(curl_get(p.url("/x"), CURL_HTTP_VERSION_1_1).status, 500);
    EXPECT_EQ(p.signal_and_wait(SIGTERM), 0) << p.output();
  }
  EXPECT_EQ(read_file(log).find("broken handler"), std::string::npos);
  // A log that cannot be opened stops valk serve at startup.
  ServeProcess bad({"--error-log", "/nonexistent-dir/error.log", app});
  EXPECT_EQ(bad.wait_exit(), 1);
  EXPECT_NE(bad.output().find("cannot open log file /nonexistent-dir/error.log: No such file"),
            std::string::npos)
      << bad.output();
}

}  // namespace
}  // namespace valk::test
