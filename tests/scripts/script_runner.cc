// synod-script: runs interaction scripts against an in-process cluster and
// compares each command's output with the expected text in the script.
//
//   synod-script [--rewrite] PATH...
//
// A PATH is a script file or a directory of *.txt scripts (run in name
// order). Each script starts from an empty cluster. On a mismatch the runner
// prints a diff headed with file:line and exits 1; --rewrite instead writes
// the actual output back into the files (then read the diff before you
// commit it: the expected output is the specification).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "commands.h"
#include "script_file.h"

namespace fs = std::filesystem;
using namespace synod::script;

namespace {

struct Totals {
  int files = 0;
  int commands = 0;
  int failed = 0;
  int rewritten = 0;
};

// Where the runner is, for the abort handler: a core assertion aborts the
// process, and the script line that triggered it is the reproducer.
char g_where[512] = "";

void on_abort(int) {
  static const char prefix[] = "synod-script: aborted while running ";
  ssize_t ignored = write(STDERR_FILENO, prefix, sizeof prefix - 1);
  ignored = write(STDERR_FILENO, g_where, strlen(g_where));
  ignored = write(STDERR_FILENO, "\n", 1);
  (void)ignored;
}

void set_where(const std::string& path, const Block& b) {
  std::snprintf(g_where, sizeof g_where, "%s:%d: %s", path.c_str(), b.line, b.command.c_str());
}

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw ScriptError(p.string() + ": cannot read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void write_file(const fs::path& p, const std::string& text) {
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out << text;
  if (!out) throw ScriptError(p.string() + ": cannot write");
}

// The cluster marks what no run may ever show (agreement, order, durable
// promises) with lines starting "!!".
bool violates_invariant(const Lines& output) {
  return std::any_of(output.begin(), output.end(),
                     [](const std::string& line) { return line.starts_with("!!"); });
}

// Runs every block of one script. Returns false when the file failed.
bool run_script(const fs::path& p, bool rewrite, Totals& totals) {
  Script script = parse_script(p.string(), read_file(p));
  Cluster cluster;
  std::vector<Lines> outputs;
  bool same = true;
  for (const Block& b : script.blocks) {
    set_where(script.path, b);
    ++totals.commands;
    try {
      outputs.push_back(run_command(cluster, b.command));
    } catch (const std::runtime_error& e) {
      std::cerr << script.path << ":" << b.line << ": " << b.command << ": " << e.what() << "\n";
      return false;
    }
    if (violates_invariant(outputs.back())) {
      // Never let a rewrite bake a safety violation into the specification.
      std::cerr << script.path << ":" << b.line << ": '" << b.command << "' broke an invariant:\n";
      for (const std::string& line : outputs.back()) std::cerr << "  " << line << "\n";
      return false;
    }
    if (outputs.back() == b.expected) continue;
    same = false;
    if (rewrite) continue;
    std::cerr << script.path << ":" << b.line << ": output of '" << b.command << "' differs\n";
    for (const std::string& line :
         unified_diff(b.expected, outputs.back(), script.path, b.line + 2))
      std::cerr << line << "\n";
    // Later blocks depend on this one's state: their diffs would be noise.
    return false;
  }
  if (rewrite && !same) {
    write_file(p, render(script, outputs));
    std::cout << "rewrote " << script.path << "\n";
    ++totals.rewritten;
  }
  return true;
}

std::vector<fs::path> script_files(const std::vector<std::string>& args) {
  std::vector<fs::path> files;
  for (const std::string& a : args) {
    if (!fs::is_directory(a)) {
      files.emplace_back(a);
      continue;
    }
    std::vector<fs::path> found;
    for (const auto& e : fs::directory_iterator(a))
      if (e.is_regular_file() && e.path().extension() == ".txt") found.push_back(e.path());
    std::sort(found.begin(), found.end());
    files.insert(files.end(), found.begin(), found.end());
  }
  return files;
}

}  // namespace

int main(int argc, char** argv) {
  bool rewrite = false;
  std::vector<std::string> paths;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--rewrite") == 0)
      rewrite = true;
    else
      paths.emplace_back(argv[i]);
  }
  if (paths.empty()) {
    std::cerr << "usage: synod-script [--rewrite] FILE|DIR...\n";
    return 2;
  }
  signal(SIGABRT, on_abort);
  Totals totals;
  for (const fs::path& p : script_files(paths)) {
    ++totals.files;
    try {
      if (!run_script(p, rewrite, totals)) ++totals.failed;
    } catch (const ScriptError& e) {
      std::cerr << e.what() << "\n";
      ++totals.failed;
    }
  }
  std::cout << "synod-script: " << totals.files << " files, " << totals.commands << " commands, "
            << totals.failed << " failed";
  if (rewrite) std::cout << ", " << totals.rewritten << " rewritten";
  std::cout << "\n";
  return totals.failed == 0 && totals.files > 0 ? 0 : 1;
}
