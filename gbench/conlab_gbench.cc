// conlab-gbench: conlab's workloads and executors as Google Benchmark
// benchmarks. A thin C++ shim over the C API: every (workload, executor,
// workers[, gil]) cell of the registries is registered at run time as
// "workload/executor/workers:N[/gil]", plus overhead benchmarks under
// "overhead/". See gbench/README.md.

#include <benchmark/benchmark.h>

#include <sys/resource.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <list>
#include <map>
#include <string>
#include <vector>

#include "conlab/error.h"
#include "conlab/executor.h"
#include "conlab/parse.h"
#include "conlab/task.h"
#include "conlab/thread_pool.h"
// topology.h names a function like its summary struct, which C allows and
// C++'s -Wshadow reports.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wshadow"
#include "conlab/topology.h"
#pragma GCC diagnostic pop
#include "conlab/workload.h"

#ifndef CONLAB_VERSION
#define CONLAB_VERSION "unknown"
#endif

namespace {

using Clock = std::chrono::steady_clock;

constexpr int kExitUsage = 2;
constexpr size_t kMaxWorkerCounts = 16;

// What the conlab_* flags asked for; 0 means the workload's own value.
struct Options {
  bool full = false;
  std::vector<unsigned> workers; // empty: automatic per workload kind
  uint64_t tasks = 0, size = 0, delay_ns = 0;
};

Options g_opt;

// Sequential per-iteration run time of each workload measured in this
// process, the baseline of the speedup counter.
std::map<std::string, double> g_seq_s;

// Messages handed to SkipWithError stay alive until exit.
std::list<std::string> g_messages;

const char *keep(std::string s) {
  g_messages.push_back(std::move(s));
  return g_messages.back().c_str();
}

std::string describe(int err, const char *what) {
  std::string s = std::string(cl_errname(err)) + ": " + what + ": " + cl_strerror(err);
  const char *d = cl_error_detail();
  if (*d) s += std::string(": ") + d;
  return s;
}

unsigned online_cpus() {
  long n = sysconf(_SC_NPROCESSORS_ONLN);
  return n > 0 ? static_cast<unsigned>(n) : 1;
}

// The worker counts of `conlab run --workers auto`, from hwloc's view of this
// machine (cl_topology_auto_workers); 1, 2, 4, ... up to the online CPUs
// (twice that for io and mixed work) when hwloc cannot load the topology.
std::vector<unsigned> auto_workers(const char *kind) {
  std::vector<unsigned> out;
  cl_topology *topo = nullptr;
  if (cl_topology_load(&topo) == 0) {
    unsigned counts[kMaxWorkerCounts];
    size_t n = cl_topology_auto_workers(topo, kind, counts, kMaxWorkerCounts);
    cl_topology_destroy(topo);
    out.assign(counts, counts + n);
    if (!out.empty()) return out;
  }
  unsigned cpus = online_cpus();
  bool waits = std::strcmp(kind, "io") == 0 || std::strcmp(kind, "mixed") == 0;
  unsigned top = waits ? 2 * cpus : cpus;
  for (unsigned w = 1; w < top && out.size() < kMaxWorkerCounts; w *= 2)
    out.push_back(w);
  if (out.empty() || out.back() != top) out.push_back(top);
  return out;
}

// The batch of one workload, built on first use and kept while consecutive
// benchmarks use the same workload (registration groups them).
class BatchCache {
public:
  ~BatchCache() { drop(); }

  // Returns the built batch of `w`, or nullptr with *err set.
  cl_batch *get(const cl_workload *w, std::string *err) {
    if (w_ == w) return &batch_;
    drop();
    cl_workload_params p{};
    p.tasks = g_opt.tasks;
    p.size = g_opt.size;
    p.delay_ns = g_opt.delay_ns;
    p.quick = !g_opt.full;
    cl_error_clear();
    int rc = cl_workload_build(w, &p, &batch_);
    if (rc) {
      *err = describe(rc, "build");
      return nullptr;
    }
    w_ = w;
    params_ = p;
    return &batch_;
  }

  const cl_workload_params &params() const { return params_; }

  void drop() {
    if (w_) cl_workload_release(w_, &batch_);
    w_ = nullptr;
  }

private:
  const cl_workload *w_ = nullptr;
  cl_batch batch_{};
  cl_workload_params params_{};
};

BatchCache g_batches;

// Resource use of this process and its reaped children at one instant.
struct Usage {
  rusage self, children;
  void take() {
    getrusage(RUSAGE_SELF, &self);
    getrusage(RUSAGE_CHILDREN, &children);
  }
};

double tv_s(const timeval &tv) {
  return static_cast<double>(tv.tv_sec) + tv.tv_usec / 1e6;
}

struct Cell {
  const cl_workload *w;
  const cl_executor_ops *ex;
  unsigned workers;
  bool gil;
};

void fail(benchmark::State &state, const std::string &msg) {
  state.counters["checksum_ok"] = 0;
  state.SkipWithError(keep(msg));
}

// One cell: the executor is created before the timed loop and destroyed
// after it; each iteration resets the batch, runs it and checks its sum.
void run_cell(benchmark::State &state, const Cell c) {
  state.SetLabel(std::string("kind=") + c.w->kind);
  std::string err;
  cl_batch *b = g_batches.get(c.w, &err);
  if (!b) {
    fail(state, err);
    return;
  }
  cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.workers = c.workers;
  cfg.gil = c.gil;
  cl_executor *ex = nullptr;
  cl_error_clear();
  int rc = c.ex->create(&cfg, &ex);
  if (rc) {
    fail(state, describe(rc, "create"));
    return;
  }
  bool manual = (c.ex->flags & CL_EXEC_EXTERNAL) != 0;
  double run_s = 0, ext_user = 0, ext_sys = 0;
  long ext_nvcsw = 0, ext_nivcsw = 0, ext_rss = 0;
  unsigned chunk = 0;
  bool have_usage = false;
  uint64_t sum = 0;
  bool ok = true;
  Usage u0, u1;
  u0.take();
  for (auto _ : state) {
    cl_batch_reset(b);
    Clock::time_point t0 = Clock::now();
    rc = c.ex->run(ex, b);
    Clock::time_point t1 = Clock::now();
    if (!rc) rc = cl_batch_status(b);
    if (rc) {
      ok = false;
      fail(state, describe(rc, "run"));
      break;
    }
    sum = cl_batch_checksum(b);
    if (sum != b->expected) {
      ok = false;
      char msg[160];
      std::snprintf(msg, sizeof msg, "CL_ECHECKSUM: checksum %" PRIu64 ", expected %" PRIu64, sum,
                    b->expected);
      fail(state, msg);
      break;
    }
    double dt =
        b->self_timed_ns ? b->self_timed_ns / 1e9 : std::chrono::duration<double>(t1 - t0).count();
    if (manual) state.SetIterationTime(dt);
    run_s += dt;
    cl_exec_usage eu;
    if (c.ex->usage && c.ex->usage(ex, &eu) == 0) {
      ext_user += eu.user_s;
      ext_sys += eu.sys_s;
      ext_nvcsw += eu.nvcsw;
      ext_nivcsw += eu.nivcsw;
      if (eu.max_rss_kb > ext_rss) ext_rss = eu.max_rss_kb;
      chunk = eu.effective_chunk;
      have_usage = true;
    }
  }
  u1.take();
  c.ex->destroy(ex);
  if (!ok) return;

  const cl_workload_params &p = g_batches.params();
  double iters = static_cast<double>(state.iterations());
  if (iters <= 0) return;
  double per_iter = run_s / iters;
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(b->ntasks));
  state.counters["checksum_ok"] = 1;
  state.counters["tasks"] = static_cast<double>(b->ntasks);
  if (std::strcmp(c.ex->name, "sequential") == 0 && !c.gil) g_seq_s[c.w->name] = per_iter;
  auto base = g_seq_s.find(c.w->name);
  if (base != g_seq_s.end() && per_iter > 0) {
    double speedup = base->second / per_iter;
    state.counters["speedup"] = speedup;
    state.counters["efficiency"] = speedup / c.workers;
  }
  double user = tv_s(u1.self.ru_utime) - tv_s(u0.self.ru_utime) + tv_s(u1.children.ru_utime) -
                tv_s(u0.children.ru_utime) + ext_user;
  double sys = tv_s(u1.self.ru_stime) - tv_s(u0.self.ru_stime) + tv_s(u1.children.ru_stime) -
               tv_s(u0.children.ru_stime) + ext_sys;
  double nvcsw = static_cast<double>((u1.self.ru_nvcsw - u0.self.ru_nvcsw) +
                                     (u1.children.ru_nvcsw - u0.children.ru_nvcsw) + ext_nvcsw);
  double nivcsw = static_cast<double>((u1.self.ru_nivcsw - u0.self.ru_nivcsw) +
                                      (u1.children.ru_nivcsw - u0.children.ru_nivcsw) + ext_nivcsw);
  state.counters["user_s"] = user / iters;
  state.counters["sys_s"] = sys / iters;
  state.counters["nvcsw"] = nvcsw / iters;
  state.counters["nivcsw"] = nivcsw / iters;
  long rss = u1.self.ru_maxrss > ext_rss ? u1.self.ru_maxrss : ext_rss;
  state.counters["max_rss_kb"] = static_cast<double>(rss);
  if (have_usage && chunk) state.counters["chunksize"] = chunk;
  char label[256];
  std::snprintf(label, sizeof label,
                "kind=%s size=%" PRIu64 " delay_ns=%" PRIu64 " checksum=%" PRIu64
                " expected=%" PRIu64,
                c.w->kind, p.size, p.delay_ns, sum, b->expected);
  state.SetLabel(label);
}

uint64_t trivial(void *arg) {
  return reinterpret_cast<uintptr_t>(arg) + 1;
}

// Submit-to-completion latency of the thread pool futures API: one trivial
// future submitted and waited for per iteration.
void submit_wait(benchmark::State &state, unsigned workers) {
  cl_thread_pool *pool = nullptr;
  cl_error_clear();
  int rc = cl_thread_pool_create(workers, nullptr, &pool);
  if (rc) {
    fail(state, describe(rc, "create"));
    return;
  }
  cl_future f;
  cl_future_init(&f);
  uintptr_t i = 0;
  bool ok = true;
  for (auto _ : state) {
    uint64_t v = 0;
    rc = cl_thread_pool_submit(pool, &f, trivial, reinterpret_cast<void *>(i));
    if (!rc) rc = cl_future_wait(&f, &v);
    if (rc) {
      ok = false;
      fail(state, describe(rc, "submit/wait"));
      break;
    }
    if (v != i + 1) {
      ok = false;
      fail(state, "CL_ECHECKSUM: a future returned the wrong value");
      break;
    }
    i++;
  }
  cl_thread_pool_destroy(pool, CL_POOL_DRAIN);
  if (!ok) return;
  state.SetItemsProcessed(state.iterations());
  state.counters["checksum_ok"] = 1;
}

// Start-up and shutdown cost of an executor: create + destroy per iteration.
void create_destroy(benchmark::State &state, const cl_executor_ops *ops, unsigned workers) {
  cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  cfg.workers = workers;
  for (auto _ : state) {
    cl_executor *ex = nullptr;
    cl_error_clear();
    int rc = ops->create(&cfg, &ex);
    if (rc) {
      state.SkipWithError(keep(describe(rc, "create")));
      break;
    }
    ops->destroy(ex);
  }
}

std::string cell_name(const Cell &c) {
  std::string n =
      std::string(c.w->name) + "/" + c.ex->name + "/workers:" + std::to_string(c.workers);
  if (c.gil) n += "/gil";
  return n;
}

void register_all() {
  // The registry's order puts sequential first; make sure of it anyway, so
  // that its time is known before the others' speedups are computed.
  std::vector<const cl_executor_ops *> execs;
  const cl_executor_ops *seq = cl_executor_find("sequential");
  if (seq) execs.push_back(seq);
  for (size_t i = 0; i < cl_executor_count(); i++)
    if (cl_executor_at(i) != seq) execs.push_back(cl_executor_at(i));

  for (size_t i = 0; i < cl_workload_count(); i++) {
    const cl_workload *w = cl_workload_at(i);
    std::vector<unsigned> counts = g_opt.workers.empty() ? auto_workers(w->kind) : g_opt.workers;
    bool overhead = std::strcmp(w->kind, "overhead") == 0;
    for (const cl_executor_ops *ex : execs) {
      bool parallel = (ex->flags & CL_EXEC_PARALLEL) != 0;
      int gils = (ex->flags & CL_EXEC_GIL_CAPABLE) ? 2 : 1;
      for (int g = 0; g < gils; g++) {
        for (size_t k = 0; k < (parallel ? counts.size() : 1); k++) {
          Cell c{w, ex, parallel ? counts[k] : 1u, g == 1};
          benchmark::internal::Benchmark *bm =
              benchmark::RegisterBenchmark(cell_name(c).c_str(), run_cell, c);
          bm->Unit(overhead ? benchmark::kMicrosecond : benchmark::kMillisecond);
          bm->MeasureProcessCPUTime();
          if (ex->flags & CL_EXEC_EXTERNAL)
            bm->UseManualTime();
          else
            bm->UseRealTime();
        }
      }
    }
  }

  std::vector<unsigned> pool_counts = g_opt.workers.empty() ? auto_workers("cpu") : g_opt.workers;
  for (unsigned n : pool_counts) {
    std::string name = "overhead/submit_wait/thread_pool/workers:" + std::to_string(n);
    benchmark::RegisterBenchmark(name.c_str(), submit_wait, n)
        ->Unit(benchmark::kMicrosecond)
        ->MeasureProcessCPUTime()
        ->UseRealTime();
  }
  for (const cl_executor_ops *ex : execs) {
    if (ex->flags & CL_EXEC_EXTERNAL) continue;
    bool parallel = (ex->flags & CL_EXEC_PARALLEL) != 0;
    for (size_t k = 0; k < (parallel ? pool_counts.size() : 1); k++) {
      unsigned n = parallel ? pool_counts[k] : 1u;
      std::string name =
          std::string("overhead/create_destroy/") + ex->name + "/workers:" + std::to_string(n);
      benchmark::RegisterBenchmark(name.c_str(), create_destroy, ex, n)
          ->Unit(benchmark::kMicrosecond)
          ->MeasureProcessCPUTime()
          ->UseRealTime();
    }
  }
}

void usage(FILE *f) {
  std::fprintf(f, "conlab-gbench: conlab workloads x executors as Google Benchmark benchmarks\n"
                  "named workload/executor/workers:N[/gil] and overhead/...\n\n"
                  "conlab flags (removed before Google Benchmark reads the rest):\n"
                  "  --conlab_full           default (full) workload sizes instead of the quick\n"
                  "                          ones (also: CONLAB_GBENCH_FULL=1 in the environment)\n"
                  "  --conlab_workers=LIST   worker counts, e.g. 1,2,4 (default: those of\n"
                  "                          `conlab run --workers auto`, from hwloc)\n"
                  "  --conlab_tasks=N        tasks per batch for every workload\n"
                  "  --conlab_size=N         per-task size for every workload that has one\n"
                  "  --conlab_delay=DUR      IO wait, e.g. 20ms, for io and mixed workloads\n\n"
                  "Google Benchmark flags work as usual: --benchmark_filter=REGEX,\n"
                  "--benchmark_repetitions=N, --benchmark_min_time=SECONDS,\n"
                  "--benchmark_format=json, --benchmark_out=FILE, --benchmark_list_tests.\n\n");
}

int usage_error(const char *flag, int err) {
  const char *d = cl_error_detail();
  std::fprintf(stderr, "conlab-gbench: %s: %s%s%s\n", flag, cl_strerror(err), *d ? ": " : "", d);
  return kExitUsage;
}

// Value of "--name=value" when `arg` is that flag, else nullptr.
const char *flag_value(const char *arg, const char *name) {
  size_t n = std::strlen(name);
  if (std::strncmp(arg, name, n) == 0 && arg[n] == '=') return arg + n + 1;
  return nullptr;
}

// Removes the conlab_* flags from argv. Returns -1 to go on, or an exit
// status.
int parse_conlab_flags(int *argc, char **argv) {
  const char *env = std::getenv("CONLAB_GBENCH_FULL");
  if (env && *env && std::strcmp(env, "0") != 0) g_opt.full = true;
  int out = 1;
  for (int i = 1; i < *argc; i++) {
    const char *a = argv[i];
    const char *v;
    int rc = 0;
    if (std::strcmp(a, "--help") == 0 || std::strcmp(a, "-h") == 0) {
      usage(stdout);
      argv[out++] = argv[i];
      continue;
    }
    if (std::strcmp(a, "--conlab_full") == 0) {
      g_opt.full = true;
    } else if ((v = flag_value(a, "--conlab_workers"))) {
      cl_list l{};
      rc = cl_parse_list(v, &l);
      g_opt.workers.clear();
      for (size_t k = 0; !rc && k < l.n; k++) {
        uint64_t w;
        rc = cl_parse_u64(l.items[k], 1, 4096, &w);
        if (!rc) g_opt.workers.push_back(static_cast<unsigned>(w));
      }
      cl_list_free(&l);
      if (rc) return usage_error("--conlab_workers", rc);
    } else if ((v = flag_value(a, "--conlab_tasks"))) {
      if ((rc = cl_parse_u64(v, 1, UINT32_MAX, &g_opt.tasks)))
        return usage_error(std::string(a, std::strchr(a, '=') - a).c_str(), rc);
    } else if ((v = flag_value(a, "--conlab_size"))) {
      if ((rc = cl_parse_u64(v, 1, UINT64_MAX, &g_opt.size)))
        return usage_error(std::string(a, std::strchr(a, '=') - a).c_str(), rc);
    } else if ((v = flag_value(a, "--conlab_delay"))) {
      if ((rc = cl_parse_duration(v, 1, 3600ull * 1000000000ull, &g_opt.delay_ns)))
        return usage_error(std::string(a, std::strchr(a, '=') - a).c_str(), rc);
    } else if (std::strncmp(a, "--conlab_", 9) == 0) {
      std::fprintf(stderr,
                   "conlab-gbench: unknown flag '%s' (valid: --conlab_full, --conlab_workers, "
                   "--conlab_tasks, --conlab_size, --conlab_delay)\n",
                   a);
      return kExitUsage;
    } else {
      argv[out++] = argv[i];
    }
  }
  *argc = out;
  argv[out] = nullptr;
  return -1;
}

// The first line of `path` that starts with `prefix` (all of it when the
// prefix is empty), or "".
std::string file_line(const char *path, const char *prefix) {
  std::ifstream f(path);
  std::string line;
  while (std::getline(f, line))
    if (line.compare(0, std::strlen(prefix), prefix) == 0) return line;
  return "";
}

// Machine facts the harness records in run.json and Google Benchmark's
// context lacks.
void add_machine_context() {
  std::string model = file_line("/proc/cpuinfo", "model name");
  size_t colon = model.find(':');
  if (colon != std::string::npos) {
    model = model.substr(model.find_first_not_of(' ', colon + 1));
    benchmark::AddCustomContext("conlab_cpu_model", model);
  }
  utsname u;
  if (uname(&u) == 0)
    benchmark::AddCustomContext("conlab_kernel",
                                std::string(u.sysname) + " " + u.release + " " + u.machine);
  std::string gov = file_line("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor", "");
  if (!gov.empty()) benchmark::AddCustomContext("conlab_governor", gov);
  long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  if (pages > 0 && page > 0)
    benchmark::AddCustomContext("conlab_memory_bytes",
                                std::to_string(static_cast<long long>(pages) * page));
}

void add_context(const std::string &cmd) {
  add_machine_context();
  benchmark::AddCustomContext("conlab_version", CONLAB_VERSION);
  benchmark::AddCustomContext("conlab_sizes", g_opt.full ? "full" : "quick");
  benchmark::AddCustomContext("conlab_online_cpus", std::to_string(online_cpus()));
#if defined(__clang__)
  benchmark::AddCustomContext("conlab_compiler", "clang++ " __VERSION__);
#elif defined(__GNUC__)
  benchmark::AddCustomContext("conlab_compiler", "g++ " __VERSION__);
#else
  benchmark::AddCustomContext("conlab_compiler", __VERSION__);
#endif
  cl_exec_config cfg;
  cl_exec_config_default(&cfg);
  benchmark::AddCustomContext("conlab_bind", cl_bind_name(cfg.bind));
  benchmark::AddCustomContext("conlab_omp_schedule", cl_omp_schedule_name(cfg.omp_schedule));
#ifdef CL_SANITIZED
  benchmark::AddCustomContext("conlab_sanitized", "true");
#endif
  benchmark::AddCustomContext("conlab_command", cmd);
}

} // namespace

int main(int argc, char **argv) {
  std::string cmd;
  for (int i = 0; i < argc; i++) {
    if (i) cmd += ' ';
    cmd += argv[i];
  }
  int rc = parse_conlab_flags(&argc, argv);
  if (rc >= 0) return rc;
  add_context(cmd);
  register_all();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return kExitUsage;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  g_batches.drop();
  return 0;
}
