#include "plan/plan_json.h"

#include <cmath>
#include <string>

#include "plan/json_fields.h"

namespace ll::plan {

using namespace json_fields;

namespace {

// Unknown numbers (NaN, e.g. prefill rates of devices that have none) are null.
Json num(double v) {
  return std::isfinite(v) ? Json(v) : Json(nullptr);
}

Json pair(int a, int b) {
  return Json::array({a, b});
}
Json pair(const std::string& a, const std::string& b) {
  return Json::array({a, b});
}

Json device_use_json(const DeviceUse& u) {
  return {{"device", u.device},
          {"name", u.name},
          {"head", u.head},
          {"segments", pair(u.first_segment, u.last_segment)},
          {"labels", pair(u.first_label, u.last_label)},
          {"layers", pair(u.layer_first, u.layer_last)},
          {"n_segments", u.last_segment - u.first_segment + 1},
          {"mem_bytes", num(u.mem_bytes)},
          {"budget_bytes", num(u.budget_bytes)},
          {"mem_ok", u.mem_ok},
          {"compute_ms", num(u.compute_s * 1e3)},
          {"pass_ms_at_n_seqs", num(u.pass_s_at_n_seqs * 1e3)},
          {"prefill_ms_per_token", num(u.prefill_s_per_token * 1e3)},
          {"weight_bytes_per_token", num(u.weight_bytes_per_token)}};
}

Json link_use_json(const LinkUse& l) {
  return {{"from", l.from},
          {"to", l.to},
          {"from_name", l.from_name},
          {"to_name", l.to_name},
          {"kind", l.kind},
          {"edges", l.n_edges},
          {"bytes_per_token", num(l.bytes_per_token)},
          {"hop_ms", num(l.hop_s * 1e3)},
          {"serialize_ms", num(l.serialize_s * 1e3)}};
}

Json summary_json(const PlanSummary& p, Objective obj) {
  Json j = {{"objective", objective_name(obj)},
            {"objective_s", num(obj == Objective::kLatency ? p.latency_s : p.bottleneck_s)},
            {"latency_ms", num(p.latency_s * 1e3)},
            {"bottleneck_ms", num(p.bottleneck_s * 1e3)},
            {"single_stream_tok_s", num(p.single_stream_tok_s)},
            {"pipelined_tok_s", num(p.pipelined_tok_s)},
            {"pipelined_tok_s_at_n_seqs", num(p.pipelined_tok_s_at_n_seqs)},
            {"prefill_tok_s", num(p.prefill_tok_s)},
            {"memory_ok", p.memory_ok},
            {"memory_note", p.memory_note},
            {"assignment", p.device_of_segment},
            {"devices", Json::array()},
            {"unused_devices", p.unused_devices},
            {"links", Json::array()}};
  for (const DeviceUse& u : p.devices) j["devices"].push_back(device_use_json(u));
  for (const LinkUse& l : p.links) j["links"].push_back(link_use_json(l));
  return j;
}

Json overlap_json(const OverlapEntry& o) {
  return {{"segment", o.segment},
          {"label", o.label},
          {"owner", o.owner},
          {"preload_on", o.preload_on},
          {"bytes", num(o.bytes)}};
}

// ---------------------------------------------------------------- reading

Result<double> ms(const Json& j, const char* key, const std::string& path) {
  LL_ASSIGN_OR_RETURN(double v, number(j, key, path));
  return v * 1e-3;
}

Status int_pair(const Json& j, const char* key, const std::string& path, int* a, int* b) {
  LL_ASSIGN_OR_RETURN(const Json* v, array(j, key, path, 2));
  if (!(*v)[0].is_number_integer() || !(*v)[1].is_number_integer()) {
    return bad(path + "." + key, "expected two integers");
  }
  *a = (*v)[0].get<int>();
  *b = (*v)[1].get<int>();
  return Status::ok();
}

Result<DeviceUse> read_device_use(const Json& j, const std::string& path) {
  DeviceUse u;
  LL_ASSIGN_OR_RETURN(u.device, integer(j, "device", path));
  LL_ASSIGN_OR_RETURN(u.name, string(j, "name", path));
  LL_ASSIGN_OR_RETURN(u.head, boolean(j, "head", path));
  LL_RETURN_IF_ERROR(int_pair(j, "segments", path, &u.first_segment, &u.last_segment));
  LL_RETURN_IF_ERROR(int_pair(j, "layers", path, &u.layer_first, &u.layer_last));
  LL_ASSIGN_OR_RETURN(const Json* labels, array(j, "labels", path, 2));
  if (!(*labels)[0].is_string() || !(*labels)[1].is_string()) {
    return bad(path + ".labels", "expected two strings");
  }
  u.first_label = (*labels)[0].get<std::string>();
  u.last_label = (*labels)[1].get<std::string>();
  LL_ASSIGN_OR_RETURN(u.mem_bytes, number(j, "mem_bytes", path));
  LL_ASSIGN_OR_RETURN(u.budget_bytes, number(j, "budget_bytes", path));
  LL_ASSIGN_OR_RETURN(u.mem_ok, boolean(j, "mem_ok", path));
  LL_ASSIGN_OR_RETURN(u.compute_s, ms(j, "compute_ms", path));
  u.pass_s_at_n_seqs = u.compute_s;  // plans written before the field: one row per pass
  if (j.contains("pass_ms_at_n_seqs")) {
    LL_ASSIGN_OR_RETURN(u.pass_s_at_n_seqs, ms(j, "pass_ms_at_n_seqs", path));
  }
  LL_ASSIGN_OR_RETURN(u.prefill_s_per_token, ms(j, "prefill_ms_per_token", path));
  LL_ASSIGN_OR_RETURN(u.weight_bytes_per_token, number(j, "weight_bytes_per_token", path));
  return u;
}

Result<LinkUse> read_link_use(const Json& j, const std::string& path) {
  LinkUse l;
  LL_ASSIGN_OR_RETURN(l.from, integer(j, "from", path));
  LL_ASSIGN_OR_RETURN(l.to, integer(j, "to", path));
  LL_ASSIGN_OR_RETURN(l.from_name, string(j, "from_name", path));
  LL_ASSIGN_OR_RETURN(l.to_name, string(j, "to_name", path));
  LL_ASSIGN_OR_RETURN(l.kind, string(j, "kind", path));
  LL_ASSIGN_OR_RETURN(l.n_edges, integer(j, "edges", path));
  LL_ASSIGN_OR_RETURN(l.bytes_per_token, number(j, "bytes_per_token", path));
  LL_ASSIGN_OR_RETURN(l.hop_s, ms(j, "hop_ms", path));
  LL_ASSIGN_OR_RETURN(l.serialize_s, ms(j, "serialize_ms", path));
  return l;
}

// Reads every element of the array `key` with `read`, naming each element's index on error.
template <typename T, typename F>
Status read_each(const Json& j, const char* key, const std::string& path, F read,
                 std::vector<T>* out) {
  LL_ASSIGN_OR_RETURN(const Json* a, array(j, key, path));
  for (size_t i = 0; i < a->size(); ++i) {
    LL_ASSIGN_OR_RETURN(T v, read((*a)[i], path + "." + key + "[" + std::to_string(i) + "]"));
    out->push_back(std::move(v));
  }
  return Status::ok();
}

Result<int> read_int(const Json& v, const std::string& path) {
  if (!v.is_number_integer()) return bad(path, "expected an integer");
  return v.get<int>();
}

Result<std::string> read_string(const Json& v, const std::string& path) {
  if (!v.is_string()) return bad(path, "expected a string");
  return v.get<std::string>();
}

Status read_summary_numbers(const Json& j, const std::string& path, PlanSummary* p) {
  LL_ASSIGN_OR_RETURN(p->latency_s, ms(j, "latency_ms", path));
  LL_ASSIGN_OR_RETURN(p->bottleneck_s, ms(j, "bottleneck_ms", path));
  LL_ASSIGN_OR_RETURN(p->single_stream_tok_s, number(j, "single_stream_tok_s", path));
  LL_ASSIGN_OR_RETURN(p->pipelined_tok_s, number(j, "pipelined_tok_s", path));
  LL_ASSIGN_OR_RETURN(p->pipelined_tok_s_at_n_seqs, number(j, "pipelined_tok_s_at_n_seqs", path));
  LL_ASSIGN_OR_RETURN(p->prefill_tok_s, number(j, "prefill_tok_s", path));
  LL_ASSIGN_OR_RETURN(p->memory_ok, boolean(j, "memory_ok", path));
  LL_ASSIGN_OR_RETURN(p->memory_note, string(j, "memory_note", path));
  return Status::ok();
}

Result<PlanSummary> read_summary(const Json& j, std::string name, const std::string& path) {
  if (!j.is_object()) return bad(path, "expected an object");
  PlanSummary p;
  p.name = std::move(name);
  LL_RETURN_IF_ERROR(read_summary_numbers(j, path, &p));
  LL_RETURN_IF_ERROR(read_each(j, "assignment", path, read_int, &p.device_of_segment));
  LL_RETURN_IF_ERROR(read_each(j, "devices", path, read_device_use, &p.devices));
  LL_RETURN_IF_ERROR(read_each(j, "unused_devices", path, read_string, &p.unused_devices));
  LL_RETURN_IF_ERROR(read_each(j, "links", path, read_link_use, &p.links));
  return p;
}

Result<OverlapEntry> read_overlap(const Json& j, const std::string& path) {
  OverlapEntry o;
  LL_ASSIGN_OR_RETURN(o.segment, integer(j, "segment", path));
  LL_ASSIGN_OR_RETURN(o.label, string(j, "label", path));
  LL_ASSIGN_OR_RETURN(o.owner, integer(j, "owner", path));
  LL_ASSIGN_OR_RETURN(o.preload_on, integer(j, "preload_on", path));
  LL_ASSIGN_OR_RETURN(o.bytes, number(j, "bytes", path));
  return o;
}

Status read_header(const Json& j, PlanReport* r) {
  LL_ASSIGN_OR_RETURN(const Json* model, object(j, "model", "plan JSON"));
  LL_ASSIGN_OR_RETURN(r->model_name, string(*model, "name", "model"));
  LL_ASSIGN_OR_RETURN(r->n_layer, integer(*model, "n_layer", "model"));
  LL_ASSIGN_OR_RETURN(r->n_params, number(*model, "n_params", "model"));
  LL_ASSIGN_OR_RETURN(r->n_segments, integer(*model, "n_segments", "model"));
  LL_ASSIGN_OR_RETURN(const Json* run, object(j, "run", "plan JSON"));
  LL_ASSIGN_OR_RETURN(double ctx, number(*run, "ctx", "run"));
  r->run.ctx = static_cast<int64_t>(ctx);
  LL_ASSIGN_OR_RETURN(r->run.n_seqs, integer(*run, "n_seqs", "run"));
  LL_ASSIGN_OR_RETURN(r->run.mem_safety, number(*run, "mem_safety", "run"));
  LL_ASSIGN_OR_RETURN(std::string obj, string(j, "objective", "plan JSON"));
  auto o = objective_from_name(obj);
  if (!o) return bad("objective", "unknown objective \"" + obj + "\"");
  r->objective = *o;
  LL_ASSIGN_OR_RETURN(const Json* s, object(j, "solver", "plan JSON"));
  LL_ASSIGN_OR_RETURN(r->solution.method, string(*s, "method", "solver"));
  LL_ASSIGN_OR_RETURN(r->solution.proven_optimal, boolean(*s, "proven_optimal", "solver"));
  LL_ASSIGN_OR_RETURN(r->solution.solve_s, ms(*s, "solve_ms", "solver"));
  LL_ASSIGN_OR_RETURN(r->solution.lower_bound_s, number(*s, "lower_bound_s", "solver"));
  LL_ASSIGN_OR_RETURN(r->solution.note, string(*s, "note", "solver"));
  return Status::ok();
}

}  // namespace

nlohmann::json plan_report_to_json(const PlanReport& r) {
  Json j;
  j["model"] = {{"name", r.model_name},
                {"n_layer", r.n_layer},
                {"n_params", num(r.n_params)},
                {"n_segments", r.n_segments}};
  j["run"] = {{"ctx", r.run.ctx}, {"n_seqs", r.run.n_seqs}, {"mem_safety", num(r.run.mem_safety)}};
  j["objective"] = objective_name(r.objective);
  j["solver"] = {{"method", r.solution.method},
                 {"proven_optimal", r.solution.proven_optimal},
                 {"solve_ms", num(r.solution.solve_s * 1e3)},
                 {"lower_bound_s", num(r.solution.lower_bound_s)},
                 {"note", r.solution.note}};
  j["plan"] = summary_json(r.plan, r.objective);
  j["plan"]["overlap"] = Json::array();
  for (const OverlapEntry& o : r.overlap) j["plan"]["overlap"].push_back(overlap_json(o));
  j["baselines"] = Json::object();
  for (const PlanSummary& b : r.baselines) j["baselines"][b.name] = summary_json(b, r.objective);
  return j;
}

Result<PlanReport> plan_report_from_json(const nlohmann::json& j) {
  if (!j.is_object()) return bad("plan JSON", "expected an object at the top");
  PlanReport r;
  LL_RETURN_IF_ERROR(read_header(j, &r));
  LL_ASSIGN_OR_RETURN(const Json* plan, object(j, "plan", "plan JSON"));
  LL_ASSIGN_OR_RETURN(r.plan, read_summary(*plan, "plan", "plan"));
  r.solution.device_of_segment = r.plan.device_of_segment;
  r.solution.objective_s =
      r.objective == Objective::kLatency ? r.plan.latency_s : r.plan.bottleneck_s;
  LL_RETURN_IF_ERROR(read_each(*plan, "overlap", "plan", read_overlap, &r.overlap));
  LL_ASSIGN_OR_RETURN(const Json* baselines, object(j, "baselines", "plan JSON"));
  for (const auto& [name, b] : baselines->items()) {
    LL_ASSIGN_OR_RETURN(PlanSummary s, read_summary(b, name, "baselines." + name));
    r.baselines.push_back(std::move(s));
  }
  return r;
}

Result<PlanReport> plan_report_from_text(std::string_view text) {
  LL_ASSIGN_OR_RETURN(Json j, parse(text, "plan"));
  return plan_report_from_json(j);
}

}  // namespace ll::plan
