#include "script_file.h"

#include <fmt/format.h>

#include <algorithm>

namespace synod::script {

namespace {

constexpr std::string_view separator = "----";
constexpr std::size_t context_lines = 3;

bool is_filler(const std::string& line) { return line.empty() || line.front() == '#'; }

Lines split_lines(const std::string& text) {
  Lines lines;
  std::size_t start = 0;
  while (start < text.size()) {
    std::size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(start, end - start);
    if (!line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

struct Edit {
  char op;          // ' ' both, '-' expected only, '+' actual only
  std::size_t exp;  // index into expected of this line, or of the next one
  const std::string* text;
};

// Longest-common-subsequence edit script. Outputs are at most a few thousand
// lines, so the quadratic table is fine.
std::vector<Edit> edit_script(const Lines& a, const Lines& b) {
  std::vector<std::vector<std::uint32_t>> lcs(a.size() + 1,
                                              std::vector<std::uint32_t>(b.size() + 1, 0));
  for (std::size_t i = a.size(); i-- > 0;)
    for (std::size_t j = b.size(); j-- > 0;)
      lcs[i][j] = a[i] == b[j] ? lcs[i + 1][j + 1] + 1 : std::max(lcs[i + 1][j], lcs[i][j + 1]);
  std::vector<Edit> out;
  std::size_t i = 0, j = 0;
  while (i < a.size() || j < b.size()) {
    if (i < a.size() && j < b.size() && a[i] == b[j]) {
      out.push_back({' ', i, &a[i]});
      ++i, ++j;
    } else if (i < a.size() && (j == b.size() || lcs[i + 1][j] >= lcs[i][j + 1])) {
      out.push_back({'-', i, &a[i]});
      ++i;
    } else {
      out.push_back({'+', i, &b[j++]});
    }
  }
  return out;
}

}  // namespace

Script parse_script(const std::string& path, const std::string& text) {
  Script script;
  script.path = path;
  Lines lines = split_lines(text);
  std::size_t i = 0;
  while (true) {
    Lines filler;
    while (i < lines.size() && is_filler(lines[i])) filler.push_back(lines[i++]);
    if (i == lines.size()) {
      script.trailer = std::move(filler);
      return script;
    }
    Block b;
    b.preamble = std::move(filler);
    b.line = static_cast<int>(i + 1);
    b.command = lines[i++];
    if (i == lines.size() || lines[i] != separator)
      throw ScriptError(fmt::format("{}:{}: expected '{}' after the command '{}'", path, b.line,
                                    separator, b.command));
    ++i;
    while (i < lines.size() && !lines[i].empty()) b.expected.push_back(lines[i++]);
    script.blocks.push_back(std::move(b));
  }
}

std::string render(const Script& script, const std::vector<Lines>& outputs) {
  std::string text;
  auto put = [&text](const std::string& line) { text += line + '\n'; };
  for (std::size_t k = 0; k < script.blocks.size(); ++k) {
    const Block& b = script.blocks[k];
    for (const std::string& line : b.preamble) put(line);
    put(b.command);
    put(std::string(separator));
    for (const std::string& line : outputs[k]) put(line);
  }
  // A block's output ends at a blank line: keep one before the trailer even
  // when the original file ended right after the last output.
  if (!script.blocks.empty() && (script.trailer.empty() || !script.trailer.front().empty()))
    put("");
  for (const std::string& line : script.trailer) put(line);
  return text;
}

Lines unified_diff(const Lines& expected, const Lines& actual, const std::string& path,
                   int first_line) {
  std::vector<Edit> edits = edit_script(expected, actual);
  // Show each edit with context_lines of unchanged lines around it.
  std::vector<bool> shown(edits.size(), false);
  for (std::size_t k = 0; k < edits.size(); ++k) {
    if (edits[k].op == ' ') continue;
    std::size_t lo = k >= context_lines ? k - context_lines : 0;
    std::size_t hi = std::min(edits.size(), k + context_lines + 1);
    std::fill(shown.begin() + static_cast<std::ptrdiff_t>(lo),
              shown.begin() + static_cast<std::ptrdiff_t>(hi), true);
  }
  Lines out = {"--- expected", "+++ actual"};
  for (std::size_t k = 0; k < edits.size(); ++k) {
    if (!shown[k]) continue;
    if (k == 0 || !shown[k - 1])
      out.push_back(fmt::format("@@ {}:{} @@", path, first_line + static_cast<int>(edits[k].exp)));
    out.push_back(std::string(1, edits[k].op) + *edits[k].text);
  }
  return out;
}

}  // namespace synod::script
