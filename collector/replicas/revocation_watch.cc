#include "collector/replicas/revocation_watch.h"

#include "common/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace medic::collector {
namespace {

// How far back each look reaches beyond two intervals. Revocation times are written by the
// revoking replica's clock: this much skew between replicas is tolerated. Looking at the same
// revocation again is harmless (its stream is gone; a machine enrolled again since has a new
// serial and keeps its stream), so the margin costs only a slightly longer query.
constexpr absl::Duration kClockSkewMargin = absl::Minutes(10);

}  // namespace

RevocationWatch::RevocationWatch(Store& store, const common::Clock& clock, absl::Duration every,
                                 Cutter cut)
    : store_(store), clock_(clock), every_(every), cut_(std::move(cut)) {
  thread_ = std::thread([this] { Loop(); });
}

RevocationWatch::~RevocationWatch() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

int RevocationWatch::CheckOnce() {
  auto revoked = store_.CertificatesRevokedSince(clock_.Now() - 2 * every_ - kClockSkewMargin);
  if (!revoked.ok()) {
    spdlog::warn("could not look for revoked agent certificates: {}", revoked.status().message());
    return 0;
  }
  int cut = 0;
  for (const Store::AgentCertificate& c : *revoked) {
    if (!cut_(c.machine_id, c.serial)) continue;
    ++cut;
    spdlog::warn("cut the stream of machine {}: its certificate (serial {}) was revoked",
                 c.machine_id, c.serial);
  }
  return cut;
}

void RevocationWatch::Loop() {
  std::unique_lock lock(mu_);
  while (!stopping_) {
    lock.unlock();
    CheckOnce();
    lock.lock();
    cv_.wait_for(lock, absl::ToChronoMilliseconds(every_), [this] { return stopping_; });
  }
}

}  // namespace medic::collector
