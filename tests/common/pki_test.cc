// The X.509 helpers the CA, enrollment and renewal stand on, and the secret helpers.

#include "common/tls/pki.h"

#include <sys/stat.h>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/support/process.h"

namespace medic::common::tls {
namespace {

using ::testing::HasSubstr;

const absl::Time kNow = absl::FromUnixSeconds(1'700'000'000);

struct Ca {
  std::string key = *GenerateKeyPem();
  std::string cert =
      *MakeCaCertificate(key, "test CA", kNow - absl::Hours(1), kNow + absl::Hours(24 * 365));
};

TEST(PkiTest, SignedCsrNamesTheMachineChosenByTheCaNotTheCsr) {
  Ca ca;
  const std::string key = *GenerateKeyPem();
  const std::string csr = *MakeCsr(key, "machine-1");
  EXPECT_EQ(*CsrCommonName(csr), "machine-1");
  CertificateSpec spec{"machine-1", {}, false, kNow, kNow + absl::Hours(24)};
  auto cert = IssueCertificate(ca.cert, ca.key, csr, spec);
  ASSERT_TRUE(cert.ok()) << cert.status();
  auto info = ReadCertificate(*cert);
  ASSERT_TRUE(info.ok());
  EXPECT_EQ(info->common_name, "machine-1");
  EXPECT_FALSE(info->is_ca);
  EXPECT_EQ(info->not_after, kNow + absl::Hours(24));
  EXPECT_TRUE(CheckKeyMatches(*cert, key).ok());
  EXPECT_FALSE(CheckKeyMatches(*cert, *GenerateKeyPem()).ok());
  EXPECT_TRUE(VerifyCertificate(*cert, ca.cert, kNow + absl::Hours(1)).ok());
}

TEST(PkiTest, VerifyRefusesExpiredNotYetValidAndForeignCertificates) {
  Ca ca, other;
  const std::string key = *GenerateKeyPem();
  CertificateSpec spec{"m", {}, false, kNow, kNow + absl::Hours(1)};
  const std::string cert = *IssueCertificate(ca.cert, ca.key, key, spec);
  // Each row: when it is checked, against which CA, and what the refusal says.
  struct Case {
    absl::Time at;
    const Ca* against;
    const char* says;
  } cases[] = {
      {kNow + absl::Hours(2), &ca, "expired"},
      {kNow - absl::Minutes(30), &ca, "not yet valid"},
      {kNow + absl::Minutes(30), &other, "unable to get local issuer"},
  };
  for (const Case& c : cases) {
    absl::Status s = VerifyCertificate(cert, c.against->cert, c.at);
    EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
    EXPECT_THAT(s.message(), HasSubstr(c.says));
  }
}

TEST(PkiTest, ServerCertificateCarriesItsNames) {
  Ca ca;
  CertificateSpec spec{
      "collector", {"collector.corp", "127.0.0.1", "::1"}, true, kNow, kNow + absl::Hours(1)};
  auto cert = IssueCertificate(ca.cert, ca.key, *GenerateKeyPem(), spec);
  ASSERT_TRUE(cert.ok()) << cert.status();
}

TEST(PkiTest, BadCsrIsRefused) {
  Ca ca;
  CertificateSpec spec{"m", {}, false, kNow, kNow + absl::Hours(1)};
  std::string csr = *MakeCsr(*GenerateKeyPem(), "m");
  csr[csr.size() / 2] = csr[csr.size() / 2] == 'A' ? 'B' : 'A';  // corrupt the body
  EXPECT_FALSE(IssueCertificate(ca.cert, ca.key, csr, spec).ok());
  EXPECT_FALSE(CsrCommonName("-----BEGIN CERTIFICATE REQUEST-----\nnope\n").ok());
}

TEST(PkiTest, RenewalWhenLessThanTheFractionOfTheLifetimeIsLeft) {
  const absl::Time start = kNow, end = kNow + absl::Hours(30 * 24);
  // Each row: how far into a 30-day certificate, the fraction, and whether to renew.
  struct Case {
    absl::Duration into;
    double fraction;
    bool renew;
  } cases[] = {
      {absl::Hours(24), 0.33, false},       // day 1
      {absl::Hours(19 * 24), 0.33, false},  // 11 days left of 30: more than a third
      {absl::Hours(21 * 24), 0.33, true},   // 9 days left
      {absl::Hours(29 * 24), 0.1, true},    // 1 day left, renew at 3
      {absl::Hours(26 * 24), 0.1, false},   // 4 days left
      {absl::Hours(31 * 24), 0.33, true},   // expired already
      {absl::Hours(19 * 24), 0, false},     // 0: the default third
      {absl::Hours(21 * 24), 7, true},      // nonsense: the default third
  };
  for (const Case& c : cases) {
    EXPECT_EQ(NeedsRenewal(start, end, start + c.into, c.fraction), c.renew)
        << absl::FormatDuration(c.into) << " " << c.fraction;
  }
}

TEST(PkiTest, SecretsHelpers) {
  EXPECT_EQ(RandomHex(16).size(), 32u);
  EXPECT_NE(RandomHex(16), RandomHex(16));
  EXPECT_EQ(Sha256Hex("abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  EXPECT_TRUE(ConstantTimeEquals("same", "same"));
  EXPECT_FALSE(ConstantTimeEquals("same", "sane"));
  EXPECT_FALSE(ConstantTimeEquals("same", "same!"));
  test::TempDir dir;
  const std::string path = dir.File("sub/secret");
  ASSERT_TRUE(WritePrivateFile(path, "s3cret").ok());
  struct stat st {};
  ASSERT_EQ(stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  EXPECT_EQ(*ReadWholeFile(path), "s3cret");
  EXPECT_TRUE(absl::IsNotFound(ReadWholeFile(dir.File("none")).status()));
}

}  // namespace
}  // namespace medic::common::tls
