#include "tls_dir.h"

#include <fmt/format.h>
#include <stdlib.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "test_pki.h"

namespace synod::bench {

std::string make_tls_dir(std::uint64_t cluster_id, std::uint32_t replicas, std::string* why) {
  std::string dir = (std::filesystem::temp_directory_path() / "synod-bench-tls-XXXXXX").string();
  if (!mkdtemp(dir.data())) {  // mode 0700: the keys stay private
    *why = fmt::format("cannot create {}: {}", dir, std::strerror(errno));
    return {};
  }
  testing::TestPki pki("synod-bench CA");
  bool ok = static_cast<bool>(std::ofstream(dir + "/ca.pem") << pki.ca_pem());
  for (std::uint64_t id = 1; id <= replicas; ++id) {
    TlsOptions node = pki.node(cluster_id, id);
    ok = ok && std::ofstream(fmt::format("{}/node-{}.pem", dir, id)) << node.cert_pem;
    ok = ok && std::ofstream(fmt::format("{}/node-{}.key", dir, id)) << node.key_pem;
  }
  if (!ok) {
    *why = fmt::format("cannot write the certificates in {}", dir);
    remove_tls_dir(dir);
    return {};
  }
  return dir;
}

void remove_tls_dir(const std::string& dir) {
  if (dir.empty()) return;
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace synod::bench
