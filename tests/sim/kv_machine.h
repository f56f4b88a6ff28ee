// The simulated host's state machine: a map of key-value registers. A
// command "KEY=VALUE" writes VALUE to register KEY; reads see the map as it
// is after some applied slot. Besides the map it folds every command into a
// digest, so replicas can be compared slot by slot (Checker::on_state)
// without comparing maps.
//
// Its snapshot image carries the applied slot, the digest and the map, then
// filler (so a transfer takes several chunks), with a checksum over
// everything after the header: an image assembled from the chunks of two
// different snapshots, or cut short, does not restore.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "synod/storage.h"

namespace synod::sim {

class KvMachine {
 public:
  // Applies a chosen entry; its slot must follow applied(). False when a
  // command is not a write (nothing in the simulator proposes one).
  bool apply(const Entry& e);

  Slot applied() const { return applied_; }
  std::uint64_t digest() const { return digest_; }
  // nullopt: the key was never written.
  std::optional<std::string> get(const std::string& key) const;
  std::size_t keys() const { return values_.size(); }

  // The snapshot image, with `filler` bytes of padding.
  std::string image(std::size_t filler) const;
  // nullopt when the image is damaged or not one of ours.
  static std::optional<KvMachine> from_image(std::string_view image);

  // The command that writes value to key.
  static std::string write_command(const std::string& key, const std::string& value);

 private:
  Slot applied_{};
  std::uint64_t digest_ = 0;
  std::map<std::string, std::string, std::less<>> values_;
};

}  // namespace synod::sim
