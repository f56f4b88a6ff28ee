// --tls: a CA and one certificate per replica, made for the run (no key is
// kept anywhere after it) in a private temporary directory that the replica
// processes read: ca.pem, node-<id>.pem, node-<id>.key.
#pragma once

#include <cstdint>
#include <string>

namespace synod::bench {

// The directory, or empty with *why set.
std::string make_tls_dir(std::uint64_t cluster_id, std::uint32_t replicas, std::string* why);
void remove_tls_dir(const std::string& dir);

}  // namespace synod::bench
