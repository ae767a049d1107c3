#include "common/tls/pki.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "common/status/errno_status.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"

namespace medic::common::tls {
namespace {

template <typename T, void (*Free)(T*)>
struct Deleter {
  void operator()(T* p) const { Free(p); }
};
using Bio = std::unique_ptr<BIO, Deleter<BIO, BIO_free_all>>;
using Key = std::unique_ptr<EVP_PKEY, Deleter<EVP_PKEY, EVP_PKEY_free>>;
using Cert = std::unique_ptr<X509, Deleter<X509, X509_free>>;
using Req = std::unique_ptr<X509_REQ, Deleter<X509_REQ, X509_REQ_free>>;
using Bn = std::unique_ptr<BIGNUM, Deleter<BIGNUM, BN_free>>;
using Store = std::unique_ptr<X509_STORE, Deleter<X509_STORE, X509_STORE_free>>;
using StoreCtx = std::unique_ptr<X509_STORE_CTX, Deleter<X509_STORE_CTX, X509_STORE_CTX_free>>;

// The OpenSSL error queue as text, emptied, after `what`.
std::string OpenSslError(std::string_view what) {
  std::string out(what);
  unsigned long e;
  bool first = true;
  while ((e = ERR_get_error()) != 0) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    out += first ? ": " : "; ";
    out += buf;
    first = false;
  }
  return out;
}

Bio MemBio(std::string_view data) {
  return Bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
}

std::string BioText(BIO* bio) {
  char* data = nullptr;
  long n = BIO_get_mem_data(bio, &data);
  return std::string(data, static_cast<size_t>(n));
}

absl::StatusOr<Key> ReadKey(std::string_view pem) {
  Bio bio = MemBio(pem);
  Key key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return absl::InvalidArgumentError(OpenSslError("not a PEM private key"));
  return key;
}

absl::StatusOr<Cert> ReadCert(std::string_view pem) {
  Bio bio = MemBio(pem);
  Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return absl::InvalidArgumentError(OpenSslError("not a PEM certificate"));
  return cert;
}

absl::StatusOr<Req> ReadCsr(std::string_view pem) {
  Bio bio = MemBio(pem);
  Req req(PEM_read_bio_X509_REQ(bio.get(), nullptr, nullptr, nullptr));
  if (!req) return absl::InvalidArgumentError(OpenSslError("not a PEM certificate request"));
  Key pub(X509_REQ_get_pubkey(req.get()));
  if (!pub || X509_REQ_verify(req.get(), pub.get()) != 1) {
    return absl::InvalidArgumentError(
        OpenSslError("the certificate request's signature does not match its key"));
  }
  return req;
}

std::string CertPem(X509* cert) {
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  return BioText(bio.get());
}

std::string NameCn(const X509_NAME* name) {
  char buf[256] = {};
  int n = X509_NAME_get_text_by_NID(const_cast<X509_NAME*>(name), NID_commonName, buf, sizeof buf);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : std::string();
}

absl::Time AsnTime(const ASN1_TIME* t) {
  struct tm tm = {};
  if (ASN1_TIME_to_tm(t, &tm) != 1) return absl::InfinitePast();
  return absl::FromTimeT(timegm(&tm));
}

absl::Status SetName(X509_NAME* name, std::string_view cn) {
  if (X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>("Medic"), -1, -1, 0) != 1 ||
      X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
                                 reinterpret_cast<const unsigned char*>(std::string(cn).c_str()),
                                 -1, -1, 0) != 1) {
    return absl::InvalidArgumentError(OpenSslError(StrCat("cannot use '", cn, "' as a name")));
  }
  return absl::OkStatus();
}

absl::Status AddExtension(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (ext == nullptr) {
    return absl::InvalidArgumentError(
        OpenSslError(StrCat("bad certificate extension ", OBJ_nid2sn(nid), "=", value)));
  }
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return absl::OkStatus();
}

// A fresh certificate with a random positive 128-bit serial, the validity set and `key`.
absl::StatusOr<Cert> NewCert(EVP_PKEY* key, absl::Time not_before, absl::Time not_after) {
  Cert cert(X509_new());
  X509_set_version(cert.get(), 2);
  unsigned char serial[16];
  RAND_bytes(serial, sizeof serial);
  serial[0] &= 0x7f;
  Bn bn(BN_bin2bn(serial, sizeof serial, nullptr));
  BN_to_ASN1_INTEGER(bn.get(), X509_get_serialNumber(cert.get()));
  ASN1_TIME_set(X509_getm_notBefore(cert.get()), absl::ToTimeT(not_before));
  ASN1_TIME_set(X509_getm_notAfter(cert.get()), absl::ToTimeT(not_after));
  if (X509_set_pubkey(cert.get(), key) != 1) {
    return absl::InvalidArgumentError(OpenSslError("cannot set the certificate's key"));
  }
  return cert;
}

bool IsIpLiteral(const std::string& name) {
  unsigned char buf[16];
  return inet_pton(AF_INET, name.c_str(), buf) == 1 || inet_pton(AF_INET6, name.c_str(), buf) == 1;
}

std::string Hex(const unsigned char* data, size_t n) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out.push_back(kDigits[data[i] >> 4]);
    out.push_back(kDigits[data[i] & 15]);
  }
  return out;
}

absl::Status WriteFileMode(const std::string& path, std::string_view contents, mode_t mode) {
  const std::filesystem::path dir = std::filesystem::path(path).parent_path();
  if (!dir.empty()) {
    std::error_code ec;
    if (!std::filesystem::exists(dir, ec)) {
      std::filesystem::create_directories(dir, ec);
      if (ec) {
        return absl::PermissionDeniedError(
            StrCat("cannot create directory ", dir.string(), ": ", ec.message()));
      }
      ::chmod(dir.c_str(), 0700);
    }
  }
  const std::string tmp = StrCat(path, ".tmp.", ::getpid());
  ::unlink(tmp.c_str());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode);
  if (fd < 0) return ErrnoToStatus(errno, StrCat("cannot create ", tmp));
  ::fchmod(fd, mode);  // whatever the umask
  size_t done = 0;
  while (done < contents.size()) {
    ssize_t n = ::write(fd, contents.data() + done, contents.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      absl::Status s = ErrnoToStatus(errno, StrCat("cannot write ", tmp));
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  ::fsync(fd);
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    absl::Status s = ErrnoToStatus(errno, StrCat("cannot rename ", tmp, " to ", path));
    ::unlink(tmp.c_str());
    return s;
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> GenerateKeyPem() {
  Key key(EVP_EC_gen("P-256"));
  if (!key) return absl::InternalError(OpenSslError("cannot generate an EC P-256 key"));
  Bio bio(BIO_new(BIO_s_mem()));
  if (PEM_write_bio_PrivateKey(bio.get(), key.get(), nullptr, nullptr, 0, nullptr, nullptr) != 1) {
    return absl::InternalError(OpenSslError("cannot write the key"));
  }
  return BioText(bio.get());
}

absl::StatusOr<std::string> MakeCaCertificate(std::string_view key_pem, std::string_view name,
                                              absl::Time not_before, absl::Time not_after) {
  ASSIGN_OR_RETURN(Key key, ReadKey(key_pem));
  ASSIGN_OR_RETURN(Cert cert, NewCert(key.get(), not_before, not_after));
  RETURN_IF_ERROR(SetName(X509_get_subject_name(cert.get()), name));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(cert.get()));
  RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_basic_constraints, "critical,CA:TRUE,pathlen:0"));
  RETURN_IF_ERROR(
      AddExtension(cert.get(), cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign"));
  RETURN_IF_ERROR(AddExtension(cert.get(), cert.get(), NID_subject_key_identifier, "hash"));
  if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0) {
    return absl::InternalError(OpenSslError("cannot sign the CA certificate"));
  }
  return CertPem(cert.get());
}

absl::StatusOr<std::string> IssueCertificate(std::string_view ca_cert_pem,
                                             std::string_view ca_key_pem,
                                             std::string_view subject_key_or_csr_pem,
                                             const CertificateSpec& spec) {
  ASSIGN_OR_RETURN(Cert ca, ReadCert(ca_cert_pem));
  ASSIGN_OR_RETURN(Key ca_key, ReadKey(ca_key_pem));
  Key subject_key;
  if (subject_key_or_csr_pem.find("CERTIFICATE REQUEST") != std::string_view::npos) {
    ASSIGN_OR_RETURN(Req req, ReadCsr(subject_key_or_csr_pem));
    subject_key.reset(X509_REQ_get_pubkey(req.get()));
  } else {
    ASSIGN_OR_RETURN(subject_key, ReadKey(subject_key_or_csr_pem));
  }
  ASSIGN_OR_RETURN(Cert cert, NewCert(subject_key.get(), spec.not_before, spec.not_after));
  RETURN_IF_ERROR(SetName(X509_get_subject_name(cert.get()), spec.common_name));
  X509_set_issuer_name(cert.get(), X509_get_subject_name(ca.get()));
  RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_basic_constraints, "critical,CA:FALSE"));
  RETURN_IF_ERROR(
      AddExtension(cert.get(), ca.get(), NID_key_usage, "critical,digitalSignature,keyAgreement"));
  RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_ext_key_usage,
                               spec.server ? "serverAuth" : "clientAuth"));
  RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_subject_key_identifier, "hash"));
  RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_authority_key_identifier, "keyid"));
  std::string sans;
  for (const std::string& n : spec.names) {
    if (n.empty()) continue;
    if (!sans.empty()) sans += ",";
    sans += IsIpLiteral(n) ? "IP:" : "DNS:";
    sans += n;
  }
  if (!sans.empty()) {
    RETURN_IF_ERROR(AddExtension(cert.get(), ca.get(), NID_subject_alt_name, sans));
  }
  if (X509_sign(cert.get(), ca_key.get(), EVP_sha256()) == 0) {
    return absl::InternalError(OpenSslError("cannot sign the certificate"));
  }
  return CertPem(cert.get());
}

absl::StatusOr<std::string> MakeCsr(std::string_view key_pem, std::string_view common_name) {
  ASSIGN_OR_RETURN(Key key, ReadKey(key_pem));
  Req req(X509_REQ_new());
  X509_REQ_set_version(req.get(), 0);
  RETURN_IF_ERROR(SetName(X509_REQ_get_subject_name(req.get()), common_name));
  X509_REQ_set_pubkey(req.get(), key.get());
  if (X509_REQ_sign(req.get(), key.get(), EVP_sha256()) == 0) {
    return absl::InternalError(OpenSslError("cannot sign the certificate request"));
  }
  Bio bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_REQ(bio.get(), req.get());
  return BioText(bio.get());
}

absl::StatusOr<std::string> CsrCommonName(std::string_view csr_pem) {
  ASSIGN_OR_RETURN(Req req, ReadCsr(csr_pem));
  return NameCn(X509_REQ_get_subject_name(req.get()));
}

absl::StatusOr<CertificateInfo> ReadCertificate(std::string_view cert_pem) {
  ASSIGN_OR_RETURN(Cert cert, ReadCert(cert_pem));
  CertificateInfo info;
  info.common_name = NameCn(X509_get_subject_name(cert.get()));
  Bn serial(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert.get()), nullptr));
  char* hex = BN_bn2hex(serial.get());
  info.serial = hex;
  OPENSSL_free(hex);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  X509_digest(cert.get(), EVP_sha256(), md, &md_len);
  info.fingerprint = Hex(md, md_len);
  info.not_before = AsnTime(X509_get0_notBefore(cert.get()));
  info.not_after = AsnTime(X509_get0_notAfter(cert.get()));
  info.is_ca = X509_check_ca(cert.get()) != 0;
  return info;
}

absl::Status VerifyCertificate(std::string_view cert_pem, std::string_view ca_cert_pem,
                               absl::Time now) {
  ASSIGN_OR_RETURN(Cert cert, ReadCert(cert_pem));
  ASSIGN_OR_RETURN(Cert ca, ReadCert(ca_cert_pem));
  Store store(X509_STORE_new());
  X509_STORE_add_cert(store.get(), ca.get());
  StoreCtx ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), cert.get(), nullptr);
  X509_STORE_CTX_set_time(ctx.get(), 0, absl::ToTimeT(now));
  if (X509_verify_cert(ctx.get()) != 1) {
    return absl::PermissionDeniedError(StrCat(
        "certificate of '", NameCn(X509_get_subject_name(cert.get())),
        "' is not valid: ", X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()))));
  }
  return absl::OkStatus();
}

bool NeedsRenewal(absl::Time not_before, absl::Time not_after, absl::Time now, double fraction) {
  if (fraction <= 0 || fraction >= 1) fraction = 1.0 / 3;
  const absl::Duration lifetime = not_after - not_before;
  return now >= not_after - lifetime * fraction;
}

absl::Status CheckKeyMatches(std::string_view cert_pem, std::string_view key_pem) {
  ASSIGN_OR_RETURN(Cert cert, ReadCert(cert_pem));
  ASSIGN_OR_RETURN(Key key, ReadKey(key_pem));
  if (X509_check_private_key(cert.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError("the private key does not belong to the certificate");
  }
  return absl::OkStatus();
}

std::string RandomHex(size_t bytes) {
  std::string raw(bytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(raw.data()), static_cast<int>(bytes)) != 1) {
    // No randomness means no safe secrets: a broken invariant, not an error to recover from.
    std::fprintf(stderr, "medic: the OS random generator failed\n");
    std::abort();
  }
  return Hex(reinterpret_cast<const unsigned char*>(raw.data()), raw.size());
}

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int md_len = 0;
  EVP_Digest(data.data(), data.size(), md, &md_len, EVP_sha256(), nullptr);
  return Hex(md, md_len);
}

bool ConstantTimeEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

absl::Status WritePrivateFile(const std::string& path, std::string_view contents) {
  return WriteFileMode(path, contents, 0600);
}

absl::Status WritePublicFile(const std::string& path, std::string_view contents) {
  return WriteFileMode(path, contents, 0644);
}

absl::StatusOr<std::string> ReadWholeFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    if (errno == ENOENT) return absl::NotFoundError(StrCat(path, " does not exist"));
    return ErrnoToStatus(errno, StrCat("cannot read ", path));
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace medic::common::tls
