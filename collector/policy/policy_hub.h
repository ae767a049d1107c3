#pragma once

#include <functional>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "collector/store/store.h"
#include "common/time/clock.h"
#include "medic/v1/agent.pb.h"
#include "medic/v1/policy.pb.h"

namespace medic::collector {

// Central policy by group: keeps the groups' policies (in the store), works out each
// machine's policy (all, site, subnet, label, host; the more specific merged last, so it
// wins), pushes it down the machine's stream on hello and whenever it changes, and runs
// canary rollouts: a staged revision goes to a share of the group first, replaces the old one
// when every canary applied it cleanly, and is rolled back when one reports an error.
// Thread-safe; never calls `send` while holding its lock.
class PolicyHub {
 public:
  // Sends a message down a connected machine's stream; false when it is not connected.
  using SendFn = std::function<bool(const std::string& machine_id, medic::v1::CollectorMessage)>;

  PolicyHub(Store& store, const common::Clock& clock);

  // Loads the stored policies. Fails when the store cannot read them.
  absl::Status Load();
  // Replicas (issue 10): another replica saved a policy; loads them again and pushes the
  // changed ones to this replica's machines.
  absl::Status Reload();
  void SetSender(SendFn send);

  // A machine's stream said hello: the policy to send it after the welcome.
  medic::v1::Policy OnHello(const std::string& machine_id, const medic::v1::Hello& hello);
  // Its topology (site, subnets) arrived or changed: pushes a new policy if it now differs.
  void OnTopology(const std::string& machine_id, const medic::v1::Topology& topology);
  // It applied a policy: records the version, and advances or rolls back a canary.
  void OnPolicyApplied(const std::string& machine_id, const medic::v1::PolicyApplied& applied);

  // The technician API.
  absl::StatusOr<medic::v1::SetPolicyResponse> Set(const medic::v1::SetPolicyRequest& request);
  absl::StatusOr<medic::v1::ListPoliciesResponse> List();
  absl::StatusOr<medic::v1::PolicyPreview> Preview(const medic::v1::PreviewPolicyRequest& request);

 private:
  struct Known {
    std::string hostname;
    std::string site;
    std::vector<std::string> labels;
    std::vector<std::string> subnets;
    std::string sent_version;     // the version last pushed
    std::string applied_version;  // the version it last said it runs
    std::vector<std::string> applied_errors;
    bool reported_local = false;
    medic::v1::AgentConfig local_config;  // from its last PolicyApplied
  };

  static bool Matches(const medic::v1::GroupPolicy& policy, const std::string& machine_id,
                      const Known& machine);
  // The machine's policy from `policies`; InvalidArgument when a stored YAML no longer parses.
  static absl::StatusOr<medic::v1::Policy> PolicyOf(
      const std::vector<medic::v1::GroupPolicy>& policies, const std::string& machine_id,
      const Known& machine);
  // Recomputes the policy of every known machine and pushes those that changed.
  void PushChanged();

  Store& store_;
  const common::Clock& clock_;
  std::mutex mu_;
  SendFn send_ ABSL_GUARDED_BY(mu_);
  std::vector<medic::v1::GroupPolicy> policies_ ABSL_GUARDED_BY(mu_);
  std::map<std::string, Known> machines_ ABSL_GUARDED_BY(mu_);  // by machine id
  std::vector<std::string> rollbacks_ ABSL_GUARDED_BY(mu_);
};

// True when `subnet` ("10.1.2.0/24") lies inside `cidr` ("10.1.0.0/16").
bool SubnetWithin(std::string_view subnet, std::string_view cidr);

}  // namespace medic::collector
