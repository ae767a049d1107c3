#pragma once

// The few X.509 operations Medic needs, on PEM strings, over OpenSSL: EC P-256 keys, a
// self-signed CA, server and client certificates signed by it, CSRs, and reading a
// certificate's subject and validity. Also the secrets helpers (random tokens, SHA-256,
// constant-time comparison, 0600 files) the collector and agent share.

#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace medic::common::tls {

// A new EC P-256 private key, PKCS#8 PEM.
absl::StatusOr<std::string> GenerateKeyPem();

// A self-signed CA certificate for `key_pem`, valid [not_before, not_after].
absl::StatusOr<std::string> MakeCaCertificate(std::string_view key_pem, std::string_view name,
                                              absl::Time not_before, absl::Time not_after);

// What a certificate issued by IssueCertificate says.
struct CertificateSpec {
  std::string common_name;
  std::vector<std::string> names;  // subjectAltNames: IP literals become IP SANs, others DNS
  bool server = false;             // extendedKeyUsage serverAuth (else clientAuth)
  absl::Time not_before;
  absl::Time not_after;
};

// A certificate for the public key of `subject_key_or_csr_pem` (a private key or a CSR,
// whose signature is checked), signed by the CA. The subject is `spec.common_name`, never the
// CSR's. InvalidArgument for an unreadable or badly signed CSR.
absl::StatusOr<std::string> IssueCertificate(std::string_view ca_cert_pem,
                                             std::string_view ca_key_pem,
                                             std::string_view subject_key_or_csr_pem,
                                             const CertificateSpec& spec);

// A CSR for `key_pem` with subject CN=`common_name`.
absl::StatusOr<std::string> MakeCsr(std::string_view key_pem, std::string_view common_name);

// The subject CN a CSR asks for (its signature is checked).
absl::StatusOr<std::string> CsrCommonName(std::string_view csr_pem);

struct CertificateInfo {
  std::string common_name;
  std::string serial;       // hex
  std::string fingerprint;  // SHA-256 of the DER, hex
  absl::Time not_before;
  absl::Time not_after;
  bool is_ca = false;
};

// Reads the first certificate of a PEM string.
absl::StatusOr<CertificateInfo> ReadCertificate(std::string_view cert_pem);

// OK when `cert_pem` was signed by `ca_cert_pem` and is valid at `now`; otherwise
// PermissionDenied naming why (expired, not yet valid, another issuer).
absl::Status VerifyCertificate(std::string_view cert_pem, std::string_view ca_cert_pem,
                               absl::Time now);

// Whether a certificate valid [not_before, not_after] should be renewed at `now`: when less
// than `fraction` (0 < fraction < 1, else 1/3) of its lifetime is left.
bool NeedsRenewal(absl::Time not_before, absl::Time not_after, absl::Time now, double fraction);

// OK when the private key belongs to the certificate.
absl::Status CheckKeyMatches(std::string_view cert_pem, std::string_view key_pem);

// `bytes` random bytes from the OS CSPRNG, as lower-case hex.
std::string RandomHex(size_t bytes);

// SHA-256 of `data`, lower-case hex.
std::string Sha256Hex(std::string_view data);

// Compares in time independent of where the inputs differ (both are hashes of equal length in
// our use; a length mismatch returns false at once).
bool ConstantTimeEquals(std::string_view a, std::string_view b);

// Writes `contents` to `path` readable by the owner only (0600), atomically (temp file and
// rename), creating the file's directory (0700) when missing.
absl::Status WritePrivateFile(const std::string& path, std::string_view contents);
// The same with mode 0644, for certificates.
absl::Status WritePublicFile(const std::string& path, std::string_view contents);

// Reads a whole file; NotFound when it does not exist.
absl::StatusOr<std::string> ReadWholeFile(const std::string& path);

}  // namespace medic::common::tls
