#include "tls_session.h"

#include <fmt/format.h>
#include <openssl/err.h>
#include <openssl/x509v3.h>

#include <climits>

#include "tls_context.h"

namespace synod {

namespace {
constexpr std::size_t kReadChunk = 16 * 1024;  // one TLS record's plaintext at most
}

TlsSession::TlsSession(SSL_CTX* ctx, Role role) {
  ssl_ = SSL_new(ctx);
  in_ = BIO_new(BIO_s_mem());
  out_ = BIO_new(BIO_s_mem());
  // An empty input BIO means "wait for more", not end of stream.
  BIO_set_mem_eof_return(in_, -1);
  SSL_set_bio(ssl_, in_, out_);
  if (role == Role::client) {
    SSL_set_connect_state(ssl_);
    handshake();
  } else {
    SSL_set_accept_state(ssl_);
  }
}

TlsSession::~TlsSession() { SSL_free(ssl_); }

bool TlsSession::fail(int ssl_error, const char* during) {
  failed_ = true;
  long verify = SSL_get_verify_result(ssl_);
  std::string reason = openssl_error(ssl_error == SSL_ERROR_ZERO_RETURN ? "peer closed the session"
                                                                        : "connection error");
  if (verify != X509_V_OK)
    error_ = fmt::format("{}: certificate refused: {} ({})", during,
                         X509_verify_cert_error_string(verify), reason);
  else
    error_ = fmt::format("{}: {}", during, reason);
  return false;
}

// Advances the handshake; true unless it failed.
bool TlsSession::handshake() {
  ERR_clear_error();
  int rc = SSL_do_handshake(ssl_);
  if (rc == 1) {
    established_ = true;
    return flush_pending();
  }
  int e = SSL_get_error(ssl_, rc);
  if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) return true;
  return fail(e, "TLS handshake");
}

bool TlsSession::flush_pending() {
  if (pending_.empty()) return true;
  std::vector<std::uint8_t> bytes;
  bytes.swap(pending_);
  return write(bytes);
}

bool TlsSession::feed(const std::uint8_t* data, std::size_t n,
                      std::vector<std::uint8_t>* plaintext) {
  if (failed_) return false;
  while (n > 0) {
    int chunk = static_cast<int>(std::min<std::size_t>(n, INT_MAX));
    int wrote = BIO_write(in_, data, chunk);
    if (wrote <= 0) return fail(SSL_ERROR_SSL, "TLS input");
    data += wrote;
    n -= static_cast<std::size_t>(wrote);
  }
  if (!established_ && (!handshake() || !established_)) return !failed_;
  // Decrypted into scratch, not into plaintext's tail: growing the vector by
  // a whole record per read would zero 16 KiB for every small message.
  static thread_local std::uint8_t scratch[kReadChunk];
  for (;;) {
    ERR_clear_error();
    int rc = SSL_read(ssl_, scratch, static_cast<int>(kReadChunk));
    if (rc > 0) {
      plaintext->insert(plaintext->end(), scratch, scratch + rc);
      continue;
    }
    int e = SSL_get_error(ssl_, rc);
    if (e == SSL_ERROR_WANT_READ) return true;
    return fail(e, "TLS read");
  }
}

bool TlsSession::write(std::span<const std::uint8_t> plaintext) {
  if (failed_) return false;
  if (!established_) {
    pending_.insert(pending_.end(), plaintext.begin(), plaintext.end());
    return true;
  }
  while (!plaintext.empty()) {
    int chunk = static_cast<int>(std::min<std::size_t>(plaintext.size(), INT_MAX));
    ERR_clear_error();
    // The output BIO grows as needed, so a write is never partial.
    int rc = SSL_write(ssl_, plaintext.data(), chunk);
    if (rc <= 0) return fail(SSL_get_error(ssl_, rc), "TLS write");
    plaintext = plaintext.subspan(static_cast<std::size_t>(rc));
  }
  return true;
}

bool TlsSession::has_output() const { return BIO_ctrl_pending(out_) > 0; }

void TlsSession::drain(std::vector<std::uint8_t>* ciphertext) {
  std::size_t n = BIO_ctrl_pending(out_);
  if (n == 0) return;
  std::size_t at = ciphertext->size();
  ciphertext->resize(at + n);
  int got = BIO_read(out_, ciphertext->data() + at, static_cast<int>(n));
  ciphertext->resize(at + static_cast<std::size_t>(got > 0 ? got : 0));
}

std::vector<std::string> TlsSession::peer_uris() const {
  std::vector<std::string> uris;
  if (!established_ || SSL_get_verify_result(ssl_) != X509_V_OK) return uris;
  X509* cert = SSL_get0_peer_certificate(ssl_);
  if (!cert) return uris;
  auto* names =
      static_cast<GENERAL_NAMES*>(X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr));
  if (!names) return uris;
  for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names, i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* s = name->d.uniformResourceIdentifier;
    uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(s)),
                      static_cast<std::size_t>(ASN1_STRING_length(s)));
  }
  GENERAL_NAMES_free(names);
  return uris;
}

}  // namespace synod
