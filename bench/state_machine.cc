#include "state_machine.h"

#include <algorithm>
#include <bit>
#include <cstring>

namespace synod::bench {

namespace {

constexpr std::size_t kImageBytes = 3 * sizeof(std::uint64_t);

void put(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out += static_cast<char>(v >> (8 * i));
}

std::uint64_t get(const std::string& in, std::size_t at) {
  std::uint64_t v = 0;
  for (int i = 7; i >= 0; --i) v = v << 8 | static_cast<unsigned char>(in[at + i]);
  return v;
}

}  // namespace

// The digest takes a command's first eight bytes (the Load's sequence
// number, unique per command) and its size, not every byte: hashing all 256
// bytes on three replicas would cost more CPU than the core spends per
// command, and the sequence number already tells commands apart.
void BenchStateMachine::apply_command(std::string_view command) {
  std::uint64_t head = 0;
  std::memcpy(&head, command.data(), std::min(sizeof head, command.size()));
  digest_ = (std::rotl(digest_, 7) ^ head ^ command.size()) * 0x9e3779b97f4a7c15u;
  ++commands_;
  bytes_ += command.size();
}

void BenchStateMachine::apply(const Entry& e) {
  for (std::string_view c : e.value.commands()) apply_command(c);
  applied_ = e.slot;
}

std::string BenchStateMachine::image() const {
  std::string out;
  out.reserve(kImageBytes);
  put(out, commands_);
  put(out, bytes_);
  put(out, digest_);
  return out;
}

bool BenchStateMachine::restore(const Snapshot& snap) {
  const std::string& in = *snap.data;
  if (in.size() != kImageBytes) return false;
  applied_ = snap.meta.slot;
  commands_ = get(in, 0);
  bytes_ = get(in, 8);
  digest_ = get(in, 16);
  return true;
}

}  // namespace synod::bench
