#include "kv_machine.h"

#include <fmt/format.h>

#include <charconv>

namespace synod::sim {

namespace {

std::uint64_t mix(std::uint64_t h, std::string_view bytes) {
  for (unsigned char c : bytes) h = (h ^ c) * 0x100000001b3ULL;
  return (h ^ 0xff) * 0x100000001b3ULL;
}

// Reads one unsigned number ending in `end` from the front of s.
std::optional<std::uint64_t> take_number(std::string_view& s, char end) {
  std::uint64_t v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p == s.data() + s.size() || *p != end) return std::nullopt;
  s.remove_prefix(static_cast<std::size_t>(p - s.data()) + 1);
  return v;
}

}  // namespace

bool KvMachine::apply(const Entry& e) {
  // Configurations are the replica's business; the digest covers them so
  // replicas still compare whole logs.
  bool writes = e.value.kind() == ValueKind::commands;
  for (std::string_view c : e.value.commands()) {
    digest_ = mix(digest_, c);
    if (!writes) continue;
    auto eq = c.find('=');
    if (eq == std::string::npos || eq == 0) return false;
    values_.insert_or_assign(std::string(c.substr(0, eq)), std::string(c.substr(eq + 1)));
  }
  digest_ = mix(digest_, std::to_string(e.slot.value));
  applied_ = e.slot;
  return true;
}

std::optional<std::string> KvMachine::get(const std::string& key) const {
  auto it = values_.find(key);
  if (it == values_.end()) return std::nullopt;
  return it->second;
}

std::string KvMachine::write_command(const std::string& key, const std::string& value) {
  return key + "=" + value;
}

std::string KvMachine::image(std::size_t filler) const {
  std::string body;
  for (const auto& [k, v] : values_) body += fmt::format("{}={}\n", k, v);
  body.append(filler, static_cast<char>('a' + applied_.value % 26));
  return fmt::format("{}:{}:{}:{}\n", applied_.value, digest_, values_.size(), mix(0, body)) + body;
}

std::optional<KvMachine> KvMachine::from_image(std::string_view s) {
  KvMachine m;
  auto slot = take_number(s, ':');
  auto digest = slot ? take_number(s, ':') : std::nullopt;
  auto count = digest ? take_number(s, ':') : std::nullopt;
  auto sum = count ? take_number(s, '\n') : std::nullopt;
  if (!sum || mix(0, s) != *sum) return std::nullopt;
  m.applied_ = Slot{*slot};
  m.digest_ = *digest;
  for (std::uint64_t i = 0; i < *count; ++i) {
    auto eol = s.find('\n');
    auto eq = s.substr(0, eol).find('=');
    if (eol == std::string_view::npos || eq == std::string_view::npos) return std::nullopt;
    m.values_.emplace(std::string(s.substr(0, eq)), std::string(s.substr(eq + 1, eol - eq - 1)));
    s.remove_prefix(eol + 1);
  }
  return m;
}

}  // namespace synod::sim
