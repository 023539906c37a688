// The valk command end to end: exit codes, help, run, eval and repl.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>

namespace {

struct Outcome {
  int status;
  std::string out;  // stdout and stderr together
};

Outcome run(const std::string& args, const std::string& stdin_text = "") {
  // One file per process: ctest runs these tests in parallel processes.
  std::string input = testing::TempDir() + "/valk_cli_stdin_" + std::to_string(getpid());
  std::ofstream(input) << stdin_text;
  std::string cmd = std::string(VALK_BINARY) + " " + args + " <" + input + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  std::string out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof buf, p)) > 0) {
    out.append(buf, n);
  }
  int status = pclose(p);
  std::remove(input.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string write_file(const std::string& name, const std::string& text) {
  std::string path = testing::TempDir() + "/" + name;
  std::ofstream(path) << text;
  return path;
}

TEST(Cli, VersionAndHelp) {
  Outcome v = run("--version");
  EXPECT_EQ(v.status, 0);
  EXPECT_EQ(v.out.rfind("valk ", 0), 0u) << v.out;
  Outcome h = run("--help");
  EXPECT_EQ(h.status, 0);
  for (const char* cmd : {"run", "repl", "eval", "static"}) {
    EXPECT_NE(h.out.find(cmd), std::string::npos) << cmd;
    Outcome sub = run(std::string(cmd) + " --help");
    EXPECT_EQ(sub.status, 0) << cmd;
    EXPECT_NE(sub.out.find("Usage: valk " + std::string(cmd)), std::string::npos) << sub.out;
  }
}

TEST(Cli, UsageErrorsExitTwo) {
  EXPECT_EQ(run("").status, 2);
  EXPECT_EQ(run("frobnicate").status, 2);
  EXPECT_EQ(run("run").status, 2);
  EXPECT_EQ(run("eval").status, 2);
  EXPECT_EQ(run("run --no-such-flag x.lisp").status, 2);
}

TEST(Cli, EvalPrintsTheValue) {
  Outcome o = run("eval '(+ 1 2)'");
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.out, "3\n");
  EXPECT_EQ(run("eval '(str \"a\" :b)'").out, "\"a:b\"\n");
}

TEST(Cli, UncaughtErrorExitsOneWithPosition) {
  std::string path = write_file("boom.lisp", "(defn f [x]\n  (+ x :oops))\n(f 1)\n");
  Outcome o = run("run " + path);
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.out.find("boom.lisp:2:3"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("at f"), std::string::npos) << o.out;
}

TEST(Cli, ReaderErrorPointsAtTheSpot) {
  std::string path = write_file("unclosed.lisp", "(println 1)\n(println \"abc)\n");
  Outcome o = run("run " + path);
  EXPECT_EQ(o.status, 1);
  EXPECT_NE(o.out.find("unclosed.lisp:2:10"), std::string::npos) << o.out;
}

TEST(Cli, RunPassesArguments) {
  std::string path = write_file("args.lisp", "(println (pr-str *command-line-args*))\n");
  Outcome o = run("run " + path + " a --b");
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.out, "[\"a\" \"--b\"]\n");
}

TEST(Cli, RunWaitsForTheFibersItSpawned) {
  std::string path = write_file(
      "spawned.lisp",
      "(spawn (fn [] (await (sleep 50)) (println \"late fiber ran\")))\n(println \"main done\")\n");
  Outcome o = run("run " + path);
  EXPECT_EQ(o.status, 0);
  EXPECT_EQ(o.out, "main done\nlate fiber ran\n");
}

TEST(Cli, ReplEvaluatesMultiLineInputAndSurvivesErrors) {
  Outcome o = run("repl", "(+ 1\n2)\n(error \"bad\")\n(* 6 7)\n");
  EXPECT_EQ(o.status, 0);
  EXPECT_NE(o.out.find("3"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("bad"), std::string::npos) << o.out;
  EXPECT_NE(o.out.find("42"), std::string::npos) << o.out;
}

}  // namespace
