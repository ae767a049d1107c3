#pragma once

// How a replica learns of agent certificates revoked through another replica: it asks the
// shared database every `every` and cuts the streams it holds with a revoked certificate.
// (New connections are checked against the database anyway; this is for streams already open.)
// See collector/README.md, "Replicas on PostgreSQL".

#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "collector/store/store.h"
#include "common/time/clock.h"

namespace medic::collector {

class RevocationWatch {
 public:
  // Cuts the live stream of a machine if it came with the certificate of `serial`; true when
  // it did. Called on the watch's thread.
  using Cutter = std::function<bool(const std::string& machine_id, const std::string& serial)>;

  // Starts the thread; `store` and `clock` outlive the watch.
  RevocationWatch(Store& store, const common::Clock& clock, absl::Duration every, Cutter cut);
  ~RevocationWatch();  // stops and joins the thread

  // One look at the database (what the thread does every `every`); returns the streams cut.
  int CheckOnce();

 private:
  void Loop();

  Store& store_;
  const common::Clock& clock_;
  const absl::Duration every_;
  const Cutter cut_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace medic::collector
