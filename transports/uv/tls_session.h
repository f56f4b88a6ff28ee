// One TLS connection's state, independent of any event loop or socket: the
// caller moves bytes between the session and its transport.
//
//   - feed(ciphertext, &plaintext): bytes read from the socket go in; the
//     handshake advances and decrypted application bytes are appended.
//   - write(plaintext): application bytes to send; buffered until the
//     handshake completes, then encrypted (large writes become several
//     records, all ready at once).
//   - drain(&ciphertext): everything waiting to go to the socket (handshake
//     messages, alerts, records) is appended; write it as one socket write.
//     Call after feed() and write().
//
// The session's BIO is memory only: OpenSSL reads the bytes given to feed()
// in place (nothing of them is kept after the call) and writes records into
// a vector that drain() hands over by swap when the caller's is empty, so
// neither direction copies more than OpenSSL itself does. Nothing here
// blocks or touches a socket. A session is not thread-safe; one thread at a
// time.
//
// When feed() or write() returns false the session failed (error() says
// why, with OpenSSL's verification reason when the peer's certificate was
// refused): drain() once more to send the alert, then close the socket.
//
// Peer identity: once established(), peer_uris() lists the SAN URIs of the
// peer's certificate, whose chain the context's CA verified.
#pragma once

#include <openssl/ssl.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace synod {

class TlsSession {
 public:
  enum class Role : std::uint8_t { client, server };

  // `ctx` is reference-counted by OpenSSL: the session keeps it alive. A
  // client starts the handshake at once (drain() has its first flight).
  TlsSession(SSL_CTX* ctx, Role role);
  ~TlsSession();
  TlsSession(const TlsSession&) = delete;
  TlsSession& operator=(const TlsSession&) = delete;

  bool feed(const std::uint8_t* data, std::size_t n, std::vector<std::uint8_t>* plaintext);
  bool write(std::span<const std::uint8_t> plaintext);
  void drain(std::vector<std::uint8_t>* ciphertext);
  bool has_output() const;

  bool established() const { return established_; }
  bool failed() const { return failed_; }
  const std::string& error() const { return error_; }
  std::vector<std::string> peer_uris() const;

 private:
  bool handshake();
  bool flush_pending();
  bool fail(int ssl_error, const char* during);
  static int bio_read(BIO* bio, char* out, std::size_t len, std::size_t* got);
  static int bio_write(BIO* bio, const char* in, std::size_t len, std::size_t* put);

  SSL* ssl_ = nullptr;
  // Ciphertext from the peer not yet taken by OpenSSL: the argument of the
  // feed() in progress (OpenSSL keeps partial records in its own buffer).
  std::span<const std::uint8_t> in_;
  std::vector<std::uint8_t> out_;  // ciphertext for the peer, until drain()
  bool established_ = false;
  bool failed_ = false;
  std::string error_;
  std::vector<std::uint8_t> pending_;  // plaintext written before the handshake completed
};

}  // namespace synod
