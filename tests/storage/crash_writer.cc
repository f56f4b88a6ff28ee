// Helper for the kill -9 loop.
//   synod-log-crash-writer write <dir> <seed>      append until killed
//   synod-log-crash-writer loop [--kills N] [--dir D] [--seed S]
//       the long loop (opt-in; the default suite runs 20 kills)
#include <stdlib.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "kill_loop.h"

int main(int argc, char** argv) {
  if (argc == 4 && std::strcmp(argv[1], "write") == 0)
    return synod::test::run_writer(argv[2], std::strtoull(argv[3], nullptr, 10));
  if (argc >= 2 && std::strcmp(argv[1], "loop") == 0) {
    synod::test::KillLoopOptions o;
    o.kills = 1000;
    char self[4096];
    ssize_t n = ::readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0) return 2;
    o.writer_path.assign(self, static_cast<std::size_t>(n));
    for (int i = 2; i + 1 < argc; i += 2) {
      std::string flag = argv[i];
      if (flag == "--kills")
        o.kills = std::atoi(argv[i + 1]);
      else if (flag == "--dir")
        o.dir = argv[i + 1];
      else if (flag == "--seed")
        o.seed = std::strtoull(argv[i + 1], nullptr, 10);
      else
        return std::fprintf(stderr, "unknown flag %s\n", flag.c_str()), 2;
    }
    if (o.dir.empty()) {
      char tmpl[] = "/tmp/synod-kill-loop-XXXXXX";
      if (!::mkdtemp(tmpl)) return 2;
      o.dir = tmpl;
    }
    synod::test::KillLoopResult r = synod::test::run_kill_loop(o);
    std::printf("%d kills, %d tail cuts, last durable slot %llu, dir %s: %s\n", r.kills,
                r.truncations, static_cast<unsigned long long>(r.max_durable_slot), o.dir.c_str(),
                r.error.empty() ? "ok" : r.error.c_str());
    return r.error.empty() ? 0 : 1;
  }
  std::fprintf(stderr, "usage: %s write <dir> <seed> | loop [--kills N] [--dir D] [--seed S]\n",
               argv[0]);
  return 2;
}
