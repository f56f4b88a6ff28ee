// How a synod node's certificate names it (docs/transport-tls.md): a SAN URI
// "synod://<cluster-id>/node/<node-id>", both decimal. A certificate names
// one node of one cluster; a URI for another cluster id does not count.
#pragma once

#include <charconv>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "synod/types.h"

namespace synod {

inline std::string node_uri(std::uint64_t cluster_id, NodeId id) {
  return "synod://" + std::to_string(cluster_id) + "/node/" + std::to_string(id.value);
}

// The node id a certificate with these SAN URIs names in `cluster_id`; none
// when it names no node of that cluster, or more than one.
inline std::optional<NodeId> node_named(const std::vector<std::string>& uris,
                                        std::uint64_t cluster_id) {
  std::string prefix = "synod://" + std::to_string(cluster_id) + "/node/";
  std::optional<NodeId> found;
  for (std::string_view uri : uris) {
    if (!uri.starts_with(prefix)) continue;
    std::string_view digits = uri.substr(prefix.size());
    std::uint64_t id = 0;
    auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), id);
    if (ec != std::errc{} || end != digits.data() + digits.size() || digits.empty()) continue;
    if (found && found->value != id) return std::nullopt;
    found = NodeId{id};
  }
  return found;
}

}  // namespace synod
