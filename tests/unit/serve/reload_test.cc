// The logs of `valk serve` and `valk static`: JSON error lines, and SIGHUP,
// which opens the log files again after a rotation and loads the
// certificates again after a renewal.
#include <gtest/gtest.h>
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "../net/net_test_util.h"
#include "serve_process.h"

namespace valk::test {
namespace {

// An empty directory NAME under the test's temporary directory.
std::string fresh_dir(const std::string& name) {
  std::string dir = testing::TempDir() + "/" + name;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

// Sends SIGHUP and waits for the report line that follows it.
void hang_up(ValkProcess& p, const std::string& report) {
  size_t before = count_of(p.output(), report);
  kill(p.pid(), SIGHUP);
  p.read_until([&] { return count_of(p.output(), report) > before; }, 10000);
  ASSERT_GT(count_of(p.output(), report), before) << p.output();
}

TEST(ServeReload, SighupReopensRotatedLogs) {
  std::string dir = fresh_dir("serve_reload_logs");
  std::string access = dir + "/access.log", errors = dir + "/error.log";
  std::string app = write_app("reload_logs.lisp", R"(
(serve (fn [req] (if (= (:path req) "/boom") (error "boom") "ok")) {:port 0})
)");
  ServeProcess s({"--access-log", access, "--error-log", errors, app});
  ASSERT_NE(s.port(), 0) << s.output();
  EXPECT_EQ(curl_get(s.url("/before"), CURL_HTTP_VERSION_1_1).status, 200);
  EXPECT_EQ(curl_get(s.url("/boom"), CURL_HTTP_VERSION_1_1).status, 500);
  ASSERT_TRUE(eventually([&] {
    return read_file(access).find("/boom") != std::string::npos &&
           read_file(errors).find("boom") != std::string::npos;
  }));
  // What logrotate does without copytruncate.
  std::filesystem::rename(access, access + ".1");
  std::filesystem::rename(errors, errors + ".1");
  hang_up(s, "SIGHUP: log files reopened, certificates reloaded");
  EXPECT_EQ(curl_get(s.url("/after"), CURL_HTTP_VERSION_2_PRIOR_KNOWLEDGE).status, 200);
  EXPECT_EQ(curl_get(s.url("/boom"), CURL_HTTP_VERSION_1_1).status, 500);
  ASSERT_TRUE(eventually([&] {
    return read_file(access).find("/after") != std::string::npos &&
           read_file(errors).find("boom") != std::string::npos;
  }));
  EXPECT_EQ(read_file(access).find("/before"), std::string::npos);
  EXPECT_EQ(read_file(access + ".1").find("/after"), std::string::npos);
  EXPECT_NE(read_file(access + ".1").find("/before"), std::string::npos);
  EXPECT_EQ(count_of(read_file(errors + ".1"), "boom"), count_of(read_file(errors), "boom"));
  EXPECT_EQ(s.signal_and_wait(SIGTERM), 0);
}

TEST(ServeLogs, JsonLogFormatMakesTheErrorLogJsonLinesToo) {
  std::string dir = fresh_dir("serve_json_logs");
  std::string access = dir + "/access.log", errors = dir + "/error.log";
  std::string app = write_app("json_logs.lisp", R"(
(serve (fn [req] (if (= (:path req) "/boom") (error "boom \"quoted\"") "ok")) {:port 0})
)");
  ServeProcess s({"--log-format", "json", "--access-log", access, "--error-log", errors, app});
  ASSERT_NE(s.port(), 0) << s.output();
  EXPECT_EQ(curl_get(s.url("/boom"), CURL_HTTP_VERSION_1_1).status, 500);
  ASSERT_TRUE(eventually([&] {
    return read_file(errors).find("boom") != std::string::npos &&
           read_file(access).find("/boom") != std::string::npos;
  }));
  std::string text = read_file(errors);
  EXPECT_NE(text.find("{\"time\":\""), std::string::npos) << text;
  EXPECT_NE(text.find("\"level\":\"error\",\"message\":\"[worker "), std::string::npos) << text;
  EXPECT_NE(text.find("boom \\\"quoted\\\""), std::string::npos) << text;
  // Every line of both logs is one JSON object to Python's parser; the
  // stack trace's newlines stay inside the message.
  for (const std::string& log : {errors, access}) {
    std::string cmd =
        "/usr/bin/python3 -c 'import json, sys; "
        "[json.loads(l) for l in open(sys.argv[1])]' " +
        log;
    EXPECT_EQ(system(cmd.c_str()), 0) << read_file(log);
  }
}

TEST(ServeReload, SighupLoadsRenewedCertificates) {
  std::string copy = testing::TempDir() + "/serve_reload";
  TlsCertificate cert = copy_certificate("dev", copy);
  const std::string &crt = cert.cert_file, &key = cert.key_file;
  std::string app = write_app("reload_tls.lisp", "(serve (fn [req] \"ok\") {:port 0})\n");
  ServeProcess s({"--tls-cert", crt, "--tls-key", key, app});
  ASSERT_NE(s.port(), 0) << s.output();
  std::string port = std::to_string(s.port());
  curl_slist* resolve = curl_slist_append(nullptr, ("other.test:" + port + ":127.0.0.1").c_str());
  auto get = [&](const char* host) {
    return curl_do(std::string("https://") + host + ":" + port + "/",
                   [&](CURL* c) { curl_easy_setopt(c, CURLOPT_RESOLVE, resolve); });
  };
  EXPECT_EQ(get("localhost").status, 200);
  EXPECT_EQ(get("other.test").code, CURLE_PEER_FAILED_VERIFICATION);

  // A broken renewal changes nothing.
  std::ofstream(crt) << "half a certificate\n";
  hang_up(s, "SIGHUP: log files reopened, certificates not reloaded");
  EXPECT_NE(s.output().find("serve_reload.crt"), std::string::npos) << s.output();
  EXPECT_EQ(get("localhost").status, 200);

  copy_certificate("other", copy);
  hang_up(s, "SIGHUP: log files reopened, certificates reloaded");
  EXPECT_EQ(get("other.test").status, 200);
  EXPECT_EQ(get("localhost").code, CURLE_PEER_FAILED_VERIFICATION);
  curl_slist_free_all(resolve);
}

TEST(StaticReload, SighupReopensTheAccessLogAndKeepsServing) {
  std::string dir = fresh_dir("static_reload");
  std::filesystem::create_directories(dir + "/www");
  std::ofstream(dir + "/www/a.txt") << "a";
  std::string access = dir + "/access.log";
  ValkProcess s("static", {"--port", "0", "--access-log", access, dir + "/www"});
  ASSERT_NE(s.port(), 0) << s.output();
  EXPECT_EQ(curl_get(s.url("/a.txt?before"), CURL_HTTP_VERSION_1_1).body, "a");
  ASSERT_TRUE(eventually([&] { return read_file(access).find("before") != std::string::npos; }));
  std::filesystem::rename(access, access + ".1");
  hang_up(s, "valk static: SIGHUP: log files reopened, certificates reloaded");
  EXPECT_EQ(curl_get(s.url("/a.txt?after"), CURL_HTTP_VERSION_1_1).body, "a");
  ASSERT_TRUE(eventually([&] { return read_file(access).find("after") != std::string::npos; }));
  EXPECT_EQ(read_file(access + ".1").find("after"), std::string::npos);
}

}  // namespace
}  // namespace valk::test
