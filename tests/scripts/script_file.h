// Script files: the datadriven format of etcd-raft's interaction tests.
//
//   # a comment
//   command args...
//   ----
//   expected output, one line each
//   <blank line>
//
// Comments and blank lines between blocks are kept verbatim, so a rewrite
// (--rewrite) changes only expected output.
#pragma once

#include <stdexcept>
#include <string>
#include <vector>

namespace synod::script {

using Lines = std::vector<std::string>;

// A file that does not follow the format; the message starts with file:line.
struct ScriptError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct Block {
  Lines preamble;  // comments and blank lines before the command
  int line = 0;    // 1-based line of the command
  std::string command;
  Lines expected;
};

struct Script {
  std::string path;
  std::vector<Block> blocks;
  Lines trailer;  // comments and blank lines after the last block
};

Script parse_script(const std::string& path, const std::string& text);

// The file text with each block's expected output replaced by outputs[i].
// Precondition: outputs.size() == script.blocks.size().
std::string render(const Script& script, const std::vector<Lines>& outputs);

// A unified diff (context of 3 lines) from expected to actual. Hunks are
// headed with path:line of the first expected line they show, where
// first_line is the file line of expected[0].
Lines unified_diff(const Lines& expected, const Lines& actual, const std::string& path,
                   int first_line);

}  // namespace synod::script
