// Mutual TLS settings for synod's libuv transports (docs/transport-tls.md).
// Each of certificate, key and CA comes from a PEM file or, for embedders
// that keep secrets elsewhere, from PEM text in memory (the text wins when
// both are set). TLS is on when a certificate is given.
#pragma once

#include <string>

namespace synod {

struct TlsOptions {
  std::string cert_file;  // this node's certificate (chain), PEM
  std::string key_file;   // its private key, PEM
  std::string ca_file;    // the cluster's CA certificate(s), PEM
  std::string cert_pem;
  std::string key_pem;
  std::string ca_pem;

  bool enabled() const { return !cert_file.empty() || !cert_pem.empty(); }
};

}  // namespace synod
