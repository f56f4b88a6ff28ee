#include "test_pki.h"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <atomic>
#include <cstdlib>
#include <stdexcept>

namespace synod::testing {

namespace {

std::atomic<long> serial{1};

void check(bool ok, const char* what) {
  if (!ok) throw std::runtime_error(std::string("test PKI: ") + what);
}

EVP_PKEY* new_key() {
  EVP_PKEY* key = EVP_EC_gen("P-256");
  check(key != nullptr, "EVP_EC_gen");
  return key;
}

std::string to_pem(X509* cert) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_X509(b, cert);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return out;
}

std::string to_pem(EVP_PKEY* key) {
  BIO* b = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  long n = BIO_get_mem_data(b, &data);
  std::string out(data, static_cast<std::size_t>(n));
  BIO_free(b);
  return out;
}

void add_ext(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  check(ext != nullptr, "X509V3_EXT_conf_nid");
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `key` named `cn`, unsigned.
X509* new_cert(EVP_PKEY* key, const std::string& cn, long not_before_s, long not_after_s) {
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial++);
  X509_gmtime_adj(X509_getm_notBefore(cert), not_before_s);
  X509_gmtime_adj(X509_getm_notAfter(cert), not_after_s);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  return cert;
}

}  // namespace

struct TestPki::Impl {
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  ~Impl() {
    X509_free(cert);
    EVP_PKEY_free(key);
  }
};

TestPki::TestPki(const std::string& name) : impl_(std::make_unique<Impl>()) {
  impl_->key = new_key();
  impl_->cert = new_cert(impl_->key, name, -3600, 365L * 24 * 3600);
  X509_set_issuer_name(impl_->cert, X509_get_subject_name(impl_->cert));
  add_ext(impl_->cert, impl_->cert, NID_basic_constraints, "critical,CA:TRUE");
  add_ext(impl_->cert, impl_->cert, NID_key_usage, "critical,keyCertSign,cRLSign");
  add_ext(impl_->cert, impl_->cert, NID_subject_key_identifier, "hash");
  check(X509_sign(impl_->cert, impl_->key, EVP_sha256()) > 0, "X509_sign CA");
  ca_pem_ = to_pem(impl_->cert);
}

TestPki::~TestPki() = default;

CertAndKey TestPki::issue(const std::string& uri, long not_before_s, long not_after_s) const {
  EVP_PKEY* key = new_key();
  X509* cert = new_cert(key, uri.empty() ? "synod test" : uri, not_before_s, not_after_s);
  X509_set_issuer_name(cert, X509_get_subject_name(impl_->cert));
  add_ext(cert, impl_->cert, NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert, impl_->cert, NID_authority_key_identifier, "keyid");
  add_ext(cert, impl_->cert, NID_ext_key_usage, "serverAuth,clientAuth");
  if (!uri.empty()) add_ext(cert, impl_->cert, NID_subject_alt_name, "URI:" + uri);
  check(X509_sign(cert, impl_->key, EVP_sha256()) > 0, "X509_sign");
  CertAndKey out{to_pem(cert), to_pem(key)};
  X509_free(cert);
  EVP_PKEY_free(key);
  return out;
}

TlsOptions TestPki::node(std::uint64_t cluster, std::uint64_t id) const {
  CertAndKey ck = issue("synod://" + std::to_string(cluster) + "/node/" + std::to_string(id));
  TlsOptions o;
  o.cert_pem = ck.cert_pem;
  o.key_pem = ck.key_pem;
  o.ca_pem = ca_pem_;
  return o;
}

}  // namespace synod::testing
