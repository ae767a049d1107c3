#include "collector/policy/policy_hub.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>

#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/config/layers.h"
#include "common/status/status_macros.h"
#include "common/strings/str_cat.h"
#include "spdlog/spdlog.h"

namespace medic::collector {
namespace {

using medic::v1::GroupPolicy;
using medic::v1::PolicyScope;

// "site=hq", "all": how a group is named in versions, origins and messages.
std::string GroupName(PolicyScope scope, const std::string& group) {
  switch (scope) {
    case medic::v1::POLICY_SCOPE_ALL:
      return "all";
    case medic::v1::POLICY_SCOPE_SITE:
      return common::StrCat("site=", group);
    case medic::v1::POLICY_SCOPE_SUBNET:
      return common::StrCat("subnet=", group);
    case medic::v1::POLICY_SCOPE_LABEL:
      return common::StrCat("label=", group);
    case medic::v1::POLICY_SCOPE_HOST:
      return common::StrCat("host=", group);
    default:
      return "?";
  }
}

int PrefixOf(std::string_view cidr) {
  const size_t slash = cidr.find('/');
  if (slash == std::string_view::npos) return -1;
  int prefix = 0;
  for (char c : cidr.substr(slash + 1)) {
    if (c < '0' || c > '9') return -1;
    prefix = prefix * 10 + (c - '0');
    if (prefix > 128) return -1;
  }
  return prefix;
}

// Where a policy sits in the merge: less specific first; among subnets the wider first.
std::pair<int, int> Rank(const GroupPolicy& p) {
  return {static_cast<int>(p.scope()),
          p.scope() == medic::v1::POLICY_SCOPE_SUBNET ? PrefixOf(p.group()) : 0};
}

bool InCanary(const GroupPolicy& p, const std::string& machine_id) {
  return p.has_canary() &&
         std::find(p.canary().machine_ids().begin(), p.canary().machine_ids().end(), machine_id) !=
             p.canary().machine_ids().end();
}

}  // namespace

bool SubnetWithin(std::string_view subnet, std::string_view cidr) {
  const int inner = PrefixOf(subnet), outer = PrefixOf(cidr);
  if (inner < 0 || outer < 0 || outer > inner) return false;
  const std::string a(subnet.substr(0, subnet.find('/'))), b(cidr.substr(0, cidr.find('/')));
  unsigned char x[16] = {}, y[16] = {};
  const bool v4 = a.find(':') == std::string::npos;
  if (v4 != (b.find(':') == std::string::npos)) return false;
  const int family = v4 ? AF_INET : AF_INET6;
  if (inet_pton(family, a.c_str(), x) != 1 || inet_pton(family, b.c_str(), y) != 1) return false;
  if (outer > (v4 ? 32 : 128)) return false;
  for (int bit = 0; bit < outer; ++bit) {
    const unsigned char mask = 0x80 >> (bit % 8);
    if ((x[bit / 8] & mask) != (y[bit / 8] & mask)) return false;
  }
  return true;
}

PolicyHub::PolicyHub(Store& store, const common::Clock& clock) : store_(store), clock_(clock) {}

absl::Status PolicyHub::Load() {
  ASSIGN_OR_RETURN(std::vector<GroupPolicy> policies, store_.ListPolicies());
  std::lock_guard lock(mu_);
  policies_ = std::move(policies);
  return absl::OkStatus();
}

absl::Status PolicyHub::Reload() {
  RETURN_IF_ERROR(Load());
  PushChanged();
  return absl::OkStatus();
}

void PolicyHub::SetSender(SendFn send) {
  std::lock_guard lock(mu_);
  send_ = std::move(send);
}

bool PolicyHub::Matches(const GroupPolicy& p, const std::string& machine_id, const Known& m) {
  switch (p.scope()) {
    case medic::v1::POLICY_SCOPE_ALL:
      return true;
    case medic::v1::POLICY_SCOPE_SITE:
      return !m.site.empty() && m.site == p.group();
    case medic::v1::POLICY_SCOPE_SUBNET:
      return std::any_of(m.subnets.begin(), m.subnets.end(),
                         [&](const std::string& s) { return SubnetWithin(s, p.group()); });
    case medic::v1::POLICY_SCOPE_LABEL:
      return std::find(m.labels.begin(), m.labels.end(), p.group()) != m.labels.end();
    case medic::v1::POLICY_SCOPE_HOST:
      return p.group() == m.hostname || p.group() == machine_id;
    default:
      return false;
  }
}

absl::StatusOr<medic::v1::Policy> PolicyHub::PolicyOf(const std::vector<GroupPolicy>& policies,
                                                      const std::string& machine_id,
                                                      const Known& machine) {
  std::vector<const GroupPolicy*> matching;
  for (const GroupPolicy& p : policies) {
    if (Matches(p, machine_id, machine)) matching.push_back(&p);
  }
  std::stable_sort(matching.begin(), matching.end(),
                   [](const GroupPolicy* a, const GroupPolicy* b) {
                     return std::pair(Rank(*a), a->group()) < std::pair(Rank(*b), b->group());
                   });
  std::vector<common::PolicyLayer> layers;
  std::vector<std::string> tokens;
  for (const GroupPolicy* p : matching) {
    const bool canary = InCanary(*p, machine_id);
    const std::string& yaml = canary ? p->canary().yaml() : p->yaml();
    const uint64_t revision = canary ? p->canary().revision() : p->revision();
    if (yaml.empty()) continue;
    const std::string token = common::StrCat(GroupName(p->scope(), p->group()), "@", revision);
    tokens.push_back(token);
    layers.push_back({common::StrCat("policy ", token), yaml});
  }
  return common::MergePolicyLayers(layers, absl::StrJoin(tokens, ","));
}

medic::v1::Policy PolicyHub::OnHello(const std::string& machine_id, const medic::v1::Hello& hello) {
  std::lock_guard lock(mu_);
  Known& m = machines_[machine_id];
  m.hostname = hello.hostname();
  m.labels.assign(hello.labels().begin(), hello.labels().end());
  absl::StatusOr<medic::v1::Policy> policy = PolicyOf(policies_, machine_id, m);
  if (!policy.ok()) {
    spdlog::error("the policy for {} cannot be built: {}", m.hostname, policy.status().message());
    return medic::v1::Policy();
  }
  *policy->mutable_issued_at() = common::ToProtoTime(clock_.Now());
  m.sent_version = policy->version();
  return *policy;
}

void PolicyHub::OnTopology(const std::string& machine_id, const medic::v1::Topology& topology) {
  {
    std::lock_guard lock(mu_);
    Known& m = machines_[machine_id];
    std::vector<std::string> subnets(topology.subnets().begin(), topology.subnets().end());
    if (m.site == topology.site() && m.subnets == subnets) return;
    m.site = topology.site();
    m.subnets = std::move(subnets);
  }
  PushChanged();
}

void PolicyHub::PushChanged() {
  std::vector<std::pair<std::string, medic::v1::Policy>> out;
  SendFn send;
  {
    std::lock_guard lock(mu_);
    send = send_;
    for (auto& [id, m] : machines_) {
      absl::StatusOr<medic::v1::Policy> policy = PolicyOf(policies_, id, m);
      if (!policy.ok() || policy->version() == m.sent_version) continue;
      *policy->mutable_issued_at() = common::ToProtoTime(clock_.Now());
      m.sent_version = policy->version();
      out.emplace_back(id, std::move(*policy));
    }
  }
  if (!send) return;
  for (auto& [id, policy] : out) {
    medic::v1::CollectorMessage message;
    *message.mutable_policy() = std::move(policy);
    send(id, std::move(message));
  }
}

void PolicyHub::OnPolicyApplied(const std::string& machine_id,
                                const medic::v1::PolicyApplied& applied) {
  if (absl::Status s = store_.SetPolicyVersion(machine_id, applied.policy_version()); !s.ok()) {
    spdlog::warn("could not record the policy version of {}: {}", machine_id, s.message());
  }
  std::vector<GroupPolicy> changed;
  {
    std::lock_guard lock(mu_);
    Known& m = machines_[machine_id];
    m.applied_version = applied.policy_version();
    m.applied_errors.assign(applied.errors().begin(), applied.errors().end());
    m.local_config = applied.local_config();
    m.reported_local = true;
    const std::vector<std::string> tokens = absl::StrSplit(applied.policy_version(), ',');
    for (GroupPolicy& p : policies_) {
      if (!InCanary(p, machine_id)) continue;
      const std::string token =
          common::StrCat(GroupName(p.scope(), p.group()), "@", p.canary().revision());
      if (std::find(tokens.begin(), tokens.end(), token) == tokens.end()) continue;
      if (!applied.errors().empty()) {
        std::string note =
            common::StrCat("rolled back ", token, ": ", m.hostname, " reported ", applied.errors(0),
                           applied.errors_size() > 1
                               ? common::StrCat(" (and ", applied.errors_size() - 1, " more)")
                               : "");
        spdlog::warn("policy canary {}", note);
        rollbacks_.push_back(std::move(note));
        p.clear_canary();
      } else {
        auto& done = *p.mutable_canary()->mutable_applied();
        if (std::find(done.begin(), done.end(), machine_id) == done.end()) {
          done.Add(std::string(machine_id));
        }
        if (done.size() < p.canary().machine_ids_size()) {
          changed.push_back(p);
          continue;
        }
        spdlog::info("policy canary {} applied cleanly on {} machines: rolling out to the group",
                     token, done.size());
        p.set_yaml(p.canary().yaml());
        p.set_revision(p.canary().revision());
        p.clear_canary();
      }
      changed.push_back(p);
    }
  }
  for (const GroupPolicy& p : changed) {
    if (absl::Status s = store_.SavePolicy(p); !s.ok()) {
      spdlog::error("could not save the policy of {}: {}", GroupName(p.scope(), p.group()),
                    s.message());
    }
  }
  if (!changed.empty()) PushChanged();
}

absl::StatusOr<medic::v1::SetPolicyResponse> PolicyHub::Set(
    const medic::v1::SetPolicyRequest& request) {
  if (request.scope() == medic::v1::POLICY_SCOPE_UNSPECIFIED) {
    return absl::InvalidArgumentError("say which group: all, site, subnet, label or host");
  }
  if (request.scope() != medic::v1::POLICY_SCOPE_ALL && request.group().empty()) {
    return absl::InvalidArgumentError("name the group (the site, subnet, label or host)");
  }
  if (request.scope() == medic::v1::POLICY_SCOPE_SUBNET && PrefixOf(request.group()) < 0) {
    return absl::InvalidArgumentError(
        common::StrCat("subnet '", request.group(), "' is not a CIDR (e.g. 10.1.0.0/16)"));
  }
  if (request.canary_percent() > 99) {
    return absl::InvalidArgumentError("a canary is 1 to 99 percent of the group");
  }
  const std::string group = request.scope() == medic::v1::POLICY_SCOPE_ALL ? "" : request.group();
  // The YAML is checked as a layer of its own before it can reach any machine.
  RETURN_IF_ERROR(
      common::MergePolicyLayers(
          {{common::StrCat("policy ", GroupName(request.scope(), group)), request.yaml()}}, "")
          .status());
  medic::v1::SetPolicyResponse response;
  GroupPolicy saved;
  {
    std::lock_guard lock(mu_);
    auto it = std::find_if(policies_.begin(), policies_.end(), [&](const GroupPolicy& p) {
      return p.scope() == request.scope() && p.group() == group;
    });
    GroupPolicy policy;
    if (it != policies_.end()) policy = *it;
    policy.set_scope(request.scope());
    policy.set_group(group);
    const uint64_t revision =
        std::max({policy.revision(), policy.canary().revision(), policy.last_revision()}) + 1;
    policy.set_last_revision(revision);
    *policy.mutable_updated_at() = common::ToProtoTime(clock_.Now());
    policy.set_updated_by(request.actor().empty() ? "technician" : request.actor());
    if (request.canary_percent() == 0) {
      policy.set_yaml(request.yaml());
      policy.set_revision(revision);
      policy.clear_canary();
    } else {
      std::vector<std::pair<std::string, std::string>> members;  // id, hostname
      for (const auto& [id, m] : machines_) {
        if (Matches(policy, id, m)) members.emplace_back(id, m.hostname);
      }
      if (members.empty()) {
        return absl::FailedPreconditionError(common::StrCat(
            "no machine of ", GroupName(request.scope(), group),
            " has connected since the collector started; nothing to try the canary on"));
      }
      const size_t count = std::max<size_t>(
          1, static_cast<size_t>(std::ceil(members.size() * request.canary_percent() / 100.0)));
      auto* canary = policy.mutable_canary();
      canary->Clear();
      canary->set_yaml(request.yaml());
      canary->set_revision(revision);
      for (size_t i = 0; i < count; ++i) {
        canary->add_machine_ids(members[i].first);
        response.add_canary_hosts(members[i].second);
      }
    }
    if (it != policies_.end()) {
      *it = policy;
    } else {
      policies_.push_back(policy);
    }
    if (policy.yaml().empty() && !policy.has_canary()) {
      std::erase_if(policies_, [&](const GroupPolicy& p) {
        return p.scope() == policy.scope() && p.group() == policy.group();
      });
    }
    saved = policy;
  }
  RETURN_IF_ERROR(store_.SavePolicy(saved));
  *response.mutable_policy() = saved;
  PushChanged();
  return response;
}

absl::StatusOr<medic::v1::ListPoliciesResponse> PolicyHub::List() {
  std::lock_guard lock(mu_);
  medic::v1::ListPoliciesResponse response;
  std::vector<GroupPolicy> sorted = policies_;
  std::stable_sort(sorted.begin(), sorted.end(), [](const GroupPolicy& a, const GroupPolicy& b) {
    return std::pair(Rank(a), a.group()) < std::pair(Rank(b), b.group());
  });
  for (auto& p : sorted) *response.add_policies() = std::move(p);
  for (const auto& r : rollbacks_) response.add_rollbacks(r);
  return response;
}

absl::StatusOr<medic::v1::PolicyPreview> PolicyHub::Preview(
    const medic::v1::PreviewPolicyRequest& request) {
  std::lock_guard lock(mu_);
  const std::string* id = nullptr;
  const Known* machine = nullptr;
  for (const auto& [machine_id, m] : machines_) {
    if (machine_id == request.host() || m.hostname == request.host()) {
      id = &machine_id;
      machine = &m;
      break;
    }
  }
  if (machine == nullptr) {
    return absl::NotFoundError(
        common::StrCat("'", request.host(),
                       "' has not connected since the collector started; its local "
                       "config is not known yet"));
  }
  std::vector<GroupPolicy> policies = policies_;
  if (request.has_draft()) {
    const auto& d = request.draft();
    const std::string group = d.scope() == medic::v1::POLICY_SCOPE_ALL ? "" : d.group();
    std::erase_if(policies, [&](const GroupPolicy& p) {
      return p.scope() == d.scope() && p.group() == group;
    });
    GroupPolicy draft;
    draft.set_scope(d.scope());
    draft.set_group(group);
    draft.set_yaml(d.yaml());
    draft.set_revision(0);  // "@0": not set yet
    policies.push_back(std::move(draft));
  }
  ASSIGN_OR_RETURN(medic::v1::Policy policy, PolicyOf(policies, *id, *machine));
  const common::PolicyOutcome outcome = common::ApplyPolicy(machine->local_config, {}, policy);
  medic::v1::PolicyPreview preview;
  preview.set_host(machine->hostname);
  *preview.mutable_policy() = policy;
  preview.set_effective(common::RenderConfig(outcome.config, outcome.origins,
                                             machine->reported_local
                                                 ? "the machine's own config or default"
                                                 : "default (local config not reported)"));
  for (const auto& r : outcome.refused) preview.add_refused(r);
  preview.set_applied_version(machine->applied_version);
  for (const auto& e : machine->applied_errors) preview.add_applied_errors(e);
  return preview;
}

}  // namespace medic::collector
