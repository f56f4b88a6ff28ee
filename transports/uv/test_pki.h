// A throwaway public-key infrastructure for tests and benchmarks: a CA and
// node certificates made at run time with OpenSSL (ECDSA P-256), so no
// private key is ever checked in. Certificates follow the naming rule of
// docs/transport-tls.md (SAN URI synod://<cluster>/node/<id>).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "synod/tls_options.h"

namespace synod::testing {

struct CertAndKey {
  std::string cert_pem;
  std::string key_pem;
};

class TestPki {
 public:
  // A self-signed CA named `name`, valid from now for a year.
  explicit TestPki(const std::string& name);
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  const std::string& ca_pem() const { return ca_pem_; }
  // A certificate for `uri` (empty: no SAN), signed by this CA, valid from
  // now + not_before_s to now + not_after_s (seconds; negative is the past).
  CertAndKey issue(const std::string& uri, long not_before_s = -60,
                   long not_after_s = 365L * 24 * 3600) const;
  // TLS options for node `id` of `cluster`, in memory.
  TlsOptions node(std::uint64_t cluster, std::uint64_t id) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::string ca_pem_;
};

}  // namespace synod::testing
