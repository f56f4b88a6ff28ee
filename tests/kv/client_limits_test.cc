// The command-line flags of authentication and client limits
// (server_options.h), and maxclients fitted to RLIMIT_NOFILE
// (client_limits.h).
#include "client_limits.h"

#include <doctest/doctest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "server_options.h"

using namespace synod::kv;

namespace {

std::optional<ServerOptions> parse_flags(std::vector<std::string> extra, std::string* why) {
  std::vector<std::string> words{
      "--id", "1", "--peers", "1=127.0.0.1:7101", "--listen", "127.0.0.1:6401", "--memory"};
  words.insert(words.end(), extra.begin(), extra.end());
  std::vector<char*> argv{const_cast<char*>("synod-kv")};
  for (std::string& w : words) argv.push_back(w.data());
  return parse_server_options(static_cast<int>(argv.size()), argv.data(), why);
}

// A file under the test's temporary directory holding `bytes`.
std::string temp_file(const std::string& name, const std::string& bytes) {
  std::string path = "/tmp/synod-kv-test-" + std::to_string(::getpid()) + "-" + name;
  std::ofstream(path, std::ios::binary) << bytes;
  return path;
}

}  // namespace

TEST_CASE("the defaults are Redis's, with the output buffer limit on") {
  std::string why;
  auto o = parse_flags({}, &why);
  REQUIRE(o);
  CHECK_FALSE(o->limits.password.has_value());
  CHECK(o->limits.protected_mode);
  CHECK(o->limits.max_clients == 10000);
  CHECK(o->limits.idle_timeout_seconds == 0);
  CHECK(o->limits.output_hard_bytes == 256u << 20);
  CHECK(o->limits.output_soft_bytes == 64u << 20);
  CHECK(o->limits.output_soft_seconds == 60);
}

TEST_CASE("--requirepass-file reads the password, one trailing newline stripped") {
  std::string why;
  for (auto [content, password] :
       std::vector<std::pair<std::string, std::string>>{{"pw\n", "pw"},
                                                        {"pw\r\n", "pw"},
                                                        {"pw", "pw"},
                                                        {"two words\n\n", "two words\n"},
                                                        {" spaced ", " spaced "}}) {
    std::string path = temp_file("pw", content);
    auto o = parse_flags({"--requirepass-file", path}, &why);
    INFO(why);
    REQUIRE(o);
    CHECK(o->limits.password == password);
    std::remove(path.c_str());
  }
}

TEST_CASE("an unreadable or empty password file, or --requirepass, refuses to start") {
  std::string why;
  CHECK_FALSE(parse_flags({"--requirepass-file", "/nonexistent/dir/pw"}, &why));
  CHECK(why.find("/nonexistent/dir/pw") != std::string::npos);
  CHECK(why.find("No such file") != std::string::npos);
  for (const char* content : {"", "\n", "\r\n"}) {
    std::string path = temp_file("empty", content);
    CHECK_FALSE(parse_flags({"--requirepass-file", path}, &why));
    CHECK(why.find("no password") != std::string::npos);
    CHECK(why.find(path) != std::string::npos);
    std::remove(path.c_str());
  }
  CHECK_FALSE(parse_flags({"--requirepass", "secret"}, &why));
  CHECK(why.find("--requirepass-file") != std::string::npos);
  CHECK(why.find("secret") == std::string::npos);
}

TEST_CASE("--protected-mode, --maxclients and --timeout take their values or name the flag") {
  std::string why;
  auto o = parse_flags({"--protected-mode", "no", "--maxclients", "12", "--timeout", "30"}, &why);
  REQUIRE(o);
  CHECK_FALSE(o->limits.protected_mode);
  CHECK(o->limits.max_clients == 12);
  CHECK(o->limits.idle_timeout_seconds == 30);
  CHECK_FALSE(parse_flags({"--protected-mode", "off"}, &why));
  CHECK(why.find("--protected-mode") != std::string::npos);
  CHECK_FALSE(parse_flags({"--maxclients", "0"}, &why));
  CHECK(why.find("--maxclients") != std::string::npos);
  CHECK_FALSE(parse_flags({"--timeout", "-1"}, &why));
  CHECK(why.find("--timeout") != std::string::npos);
}

TEST_CASE("--client-output-buffer-limit takes Redis's syntax, the class name optional") {
  std::string why;
  auto o = parse_flags({"--client-output-buffer-limit", "normal 32mb 8MB 5"}, &why);
  REQUIRE(o);
  CHECK(o->limits.output_hard_bytes == 32u << 20);
  CHECK(o->limits.output_soft_bytes == 8u << 20);
  CHECK(o->limits.output_soft_seconds == 5);
  o = parse_flags({"--client-output-buffer-limit", "0 0 0"}, &why);
  REQUIRE(o);
  CHECK(o->limits.output_hard_bytes == 0);
  for (const char* bad : {"32mb 8mb", "replica 1 2 3", "1x 2 3", "mb 2 3", "1 2 3 4"}) {
    INFO(bad);
    CHECK_FALSE(parse_flags({"--client-output-buffer-limit", bad}, &why));
    CHECK(why.find("--client-output-buffer-limit") != std::string::npos);
  }
}

TEST_CASE("memory sizes read as Redis's memtoll") {
  std::uint64_t n = 0;
  CHECK((parse_memory_size("100", &n) && n == 100));
  CHECK((parse_memory_size("1k", &n) && n == 1000));
  CHECK((parse_memory_size("1kb", &n) && n == 1024));
  CHECK((parse_memory_size("2M", &n) && n == 2000000));
  CHECK((parse_memory_size("256mb", &n) && n == 256u << 20));
  CHECK((parse_memory_size("1gb", &n) && n == 1u << 30));
  for (const char* bad : {"", "k", "1.5mb", "-1", "1 mb", "1tb", "99999999999999999999gb"}) {
    INFO(bad);
    CHECK_FALSE(parse_memory_size(bad, &n));
  }
}

TEST_CASE("the descriptor reserve grows with the peers") {
  CHECK(reserved_descriptors(3) >= 32 + 6);
  CHECK(reserved_descriptors(10) > reserved_descriptors(3));
}

TEST_CASE("maxclients is lowered to fit RLIMIT_NOFILE minus the reserve, and says so") {
  // In a child: the hard limit cannot be raised again once lowered.
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    rlimit lim{200, 200};
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) ::_exit(10);
    std::uint64_t max_clients = 10000;
    std::string line = fit_maxclients(&max_clients, 50);
    if (max_clients != 150) ::_exit(11);
    if (line.find("maxclients has been reduced to 150") == std::string::npos) ::_exit(12);
    if (line.find("10050") == std::string::npos) ::_exit(13);
    std::uint64_t few = 100;  // fits: untouched, nothing said
    if (!fit_maxclients(&few, 50).empty() || few != 100) ::_exit(14);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("maxclients raises the soft RLIMIT_NOFILE towards the hard one before lowering") {
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    rlimit lim{100, 400};
    if (::setrlimit(RLIMIT_NOFILE, &lim) != 0) ::_exit(10);
    std::uint64_t max_clients = 300;
    if (!fit_maxclients(&max_clients, 50).empty() || max_clients != 300) ::_exit(11);
    if (::getrlimit(RLIMIT_NOFILE, &lim) != 0 || lim.rlim_cur != 350) ::_exit(12);
    ::_exit(0);
  }
  int status = 0;
  REQUIRE(::waitpid(pid, &status, 0) == pid);
  REQUIRE(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("--compaction-tail-bytes bounds the log kept below a snapshot; 16 MiB unless given") {
  std::string why;
  auto o = parse_flags({}, &why);
  REQUIRE(o);
  CHECK(o->compaction_tail == 10000);
  CHECK(o->compaction_tail_bytes == 16u << 20);
  o = parse_flags({"--compaction-tail-bytes", "0"}, &why);
  REQUIRE(o);
  CHECK(o->compaction_tail_bytes == 0);
  o = parse_flags({"--compaction-tail-bytes", "1048576"}, &why);
  REQUIRE(o);
  CHECK(o->compaction_tail_bytes == 1048576);
  CHECK_FALSE(parse_flags({"--compaction-tail-bytes", "16MiB"}, &why));
  CHECK(why == "--compaction-tail-bytes must be a number (0: no byte limit)");
  CHECK_FALSE(parse_flags({"--compaction-tail-bytes"}, &why));
}

TEST_CASE("--log-format writes 1 unless 2 is asked for; nothing else is taken") {
  std::string why;
  auto o = parse_flags({}, &why);
  REQUIRE(o);
  CHECK(o->log_format == 1);
  o = parse_flags({"--log-format", "2"}, &why);
  REQUIRE(o);
  CHECK(o->log_format == 2);
  for (const char* bad : {"0", "3", "v2", ""}) {
    CHECK_FALSE(parse_flags({"--log-format", bad}, &why));
    CHECK(why == "--log-format must be 1 or 2");
  }
}

TEST_CASE("--snapshot-format writes 3 unless 4 is asked for; nothing else is taken") {
  std::string why;
  auto o = parse_flags({}, &why);
  REQUIRE(o);
  CHECK(o->snapshot_format == 3);
  o = parse_flags({"--snapshot-format", "4"}, &why);
  REQUIRE(o);
  CHECK(o->snapshot_format == 4);
  for (const char* bad : {"2", "5", "SKVSNAP4", ""}) {
    CHECK_FALSE(parse_flags({"--snapshot-format", bad}, &why));
    CHECK(why == "--snapshot-format must be 3 or 4");
  }
}
