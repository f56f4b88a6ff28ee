// The OpenSSL SSL_CTX of a TLS-enabled transport: this node's certificate
// and key, the cluster CA that every peer's chain must verify against, TLS
// 1.3 only, and a peer certificate required on both sides (mutual TLS).
// One context serves both the dialing and the accepting side. A server port
// whose clients carry no certificate (a Redis client port) asks for
// PeerCert::not_requested instead.
#pragma once

#include <openssl/ssl.h>

#include <cstdint>
#include <memory>
#include <string>

#include "synod/tls_options.h"

namespace synod {

class TlsContext {
 public:
  enum class PeerCert : std::uint8_t { required, not_requested };

  // Loads the certificate, key and CA of `options`. On failure returns null
  // and sets *why to a line naming the file (or "cert_pem", ...) and
  // OpenSSL's reason.
  static std::unique_ptr<TlsContext> create(const TlsOptions& options, std::string* why,
                                            PeerCert peer_cert = PeerCert::required);
  ~TlsContext();
  TlsContext(const TlsContext&) = delete;
  TlsContext& operator=(const TlsContext&) = delete;

  SSL_CTX* get() const { return ctx_; }

 private:
  explicit TlsContext(SSL_CTX* ctx) : ctx_(ctx) {}
  SSL_CTX* ctx_;
};

// OpenSSL's most recent error on this thread as text (and clears the queue);
// `fallback` when there is none.
std::string openssl_error(const char* fallback);

}  // namespace synod
