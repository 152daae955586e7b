// HTTP/1.1 server on epoll, with Boost.Beast's parser (http_connection.h).
//
// Threading: one Worker per I/O thread, each with its own epoll instance that
// only its thread waits on, so a connection's code never needs a lock. Every
// epoll instance watches the one listening socket with EPOLLEXCLUSIVE, and the
// kernel wakes one waiting thread per new connection. That thread hands the
// socket to the worker with the fewest connections that is not running a
// handler (itself on a tie), which serves it to the end. Without the hand-off
// one thread took all 16 connections of a wrk run, because it was back in
// epoll_wait before the next connect arrived. A shared eventfd, written once
// by Stop(), wakes every thread to exit.
//
// Timeouts: each connection has one deadline for its current wait. epoll_wait
// returns at least every kTick, and the thread then closes the connections
// whose deadline has passed, so a timeout fires up to kTick late.
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <netinet/tcp.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/http.h"
#include "common/http_connection.h"

namespace tandem::http {
namespace {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using internal::Clock;
using internal::Connection;
using internal::ServerState;

constexpr std::chrono::milliseconds kTick{250};
constexpr int kMaxEvents = 128;

std::string ErrnoText(int error) { return std::strerror(error); }

// Returns the CPUs this process may run on, in ascending order; empty when
// they cannot be read.
std::vector<int> AllowedCpus() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (::sched_getaffinity(0, sizeof(set), &set) != 0) {
    spdlog::warn("http server cannot read the CPU affinity error={}", ErrnoText(errno));
    return {};
  }
  std::vector<int> cpus;
  for (int cpu = 0; cpu < CPU_SETSIZE; ++cpu) {
    if (CPU_ISSET(cpu, &set)) cpus.push_back(cpu);
  }
  return cpus;
}

// Pins the calling thread to `cpu`; a failure only costs speed, so it is logged.
void PinCurrentThread(int cpu) {
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  int error = ::pthread_setaffinity_np(::pthread_self(), sizeof(set), &set);
  if (error != 0) {
    spdlog::warn("http server cannot pin an I/O thread cpu={} error={}", cpu, ErrnoText(error));
  }
}

// One I/O thread's epoll loop and the connections it serves.
class Worker {
 public:
  // `peers` lists every worker of the server, this one included; it must not
  // change once Run() has started.
  Worker(ServerState& state, int listen_fd, int wake_fd,
         const std::vector<std::unique_ptr<Worker>>& peers)
      : state_(state), listen_fd_(listen_fd), wake_fd_(wake_fd), peers_(peers) {}
  ~Worker();
  Worker(const Worker&) = delete;
  Worker& operator=(const Worker&) = delete;

  // Creates the epoll instance and the hand-off eventfd, and registers them,
  // the listening socket and the wake-up eventfd.
  Status Init();

  // Serves connections until the wake-up eventfd becomes readable.
  void Run();

  // Queues the accepted socket `fd` for this worker to serve. Any thread.
  void HandOff(int fd);

 private:
  void Accept(Clock::time_point now);
  Worker& PickWorker();
  void AdoptHandedOff(Clock::time_point now);
  void Adopt(int fd, Clock::time_point now);
  void StopAccepting();
  void Dispatch(Connection* connection, uint32_t events, Clock::time_point now);
  void Sweep(Clock::time_point now);

  ServerState& state_;
  int listen_fd_;
  int wake_fd_;
  const std::vector<std::unique_ptr<Worker>>& peers_;
  int epoll_fd_ = -1;
  int handoff_fd_ = -1;  // eventfd that HandOff() writes
  std::mutex handoff_mutex_;
  std::vector<int> handed_off_;  // guarded by handoff_mutex_
  // Read by other workers' PickWorker(): connections served or queued here,
  // and whether this thread is handling a connection event (a handler runs
  // inside one).
  std::atomic<int64_t> load_{0};
  std::atomic<bool> busy_{false};
  bool accepting_ = false;
  // Set after an accept failure that retrying at once cannot fix (out of
  // descriptors): accepting resumes at this time instead of spinning.
  std::optional<Clock::time_point> resume_accept_at_;
  // Tags that tell the listening socket and the two eventfds apart from
  // connections in epoll_event::data.ptr.
  char listen_tag_ = 0;
  char wake_tag_ = 0;
  char handoff_tag_ = 0;
  std::unordered_map<Connection*, std::unique_ptr<Connection>> connections_;
};

Worker::~Worker() {
  connections_.clear();  // closes every socket
  for (int fd : handed_off_) ::close(fd);
  if (handoff_fd_ >= 0) ::close(handoff_fd_);
  if (epoll_fd_ >= 0) ::close(epoll_fd_);
}

Status Worker::Init() {
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  if (epoll_fd_ < 0) return Internal(fmt::format("epoll_create1 failed: {}", ErrnoText(errno)));
  epoll_event wake{};
  wake.events = EPOLLIN;
  wake.data.ptr = &wake_tag_;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &wake) != 0) {
    return Internal(fmt::format("epoll_ctl of the wake-up eventfd failed: {}", ErrnoText(errno)));
  }
  handoff_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (handoff_fd_ < 0) return Internal(fmt::format("eventfd failed: {}", ErrnoText(errno)));
  epoll_event handoff{};
  handoff.events = EPOLLIN;
  handoff.data.ptr = &handoff_tag_;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, handoff_fd_, &handoff) != 0) {
    return Internal(fmt::format("epoll_ctl of the hand-off eventfd failed: {}", ErrnoText(errno)));
  }
  epoll_event listen{};
  listen.events = EPOLLIN | EPOLLEXCLUSIVE;
  listen.data.ptr = &listen_tag_;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &listen) != 0) {
    return Internal(
        fmt::format("epoll_ctl of the listening socket failed: {}", ErrnoText(errno)));
  }
  accepting_ = true;
  return Ok();
}

void Worker::Run() {
  std::array<epoll_event, kMaxEvents> events;
  Clock::time_point next_sweep = Clock::now() + kTick;
  while (true) {
    int count = ::epoll_wait(epoll_fd_, events.data(), kMaxEvents, int(kTick.count()));
    if (count < 0 && errno != EINTR) {
      spdlog::error("http epoll_wait failed error={}", ErrnoText(errno));
      std::this_thread::sleep_for(kTick);
    }
    Clock::time_point now = Clock::now();
    for (int i = 0; i < count; ++i) {
      void* tag = events[i].data.ptr;
      if (tag == &wake_tag_) return;
      if (tag == &listen_tag_) {
        Accept(now);
      } else if (tag == &handoff_tag_) {
        AdoptHandedOff(now);
      } else {
        Dispatch(static_cast<Connection*>(tag), events[i].events, now);
      }
    }
    if (now >= next_sweep) {
      Sweep(now);
      next_sweep = now + kTick;
    }
  }
}

// Accepts one connection per wake-up and passes it to PickWorker()'s worker.
void Worker::Accept(Clock::time_point now) {
  int fd = ::accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
  if (fd < 0) {
    int error = errno;
    if (state_.draining()) return StopAccepting();
    if (error == EAGAIN || error == EWOULDBLOCK || error == EINTR || error == ECONNABORTED ||
        error == EPROTO) {
      return;
    }
    spdlog::warn("http accept failed error={}", ErrnoText(error));
    StopAccepting();
    resume_accept_at_ = now + kTick;
    return;
  }
  if (state_.draining()) {
    ::close(fd);
    return StopAccepting();
  }
  state_.CountConnection();
  int no_delay = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &no_delay, sizeof(no_delay));
  Worker& worker = PickWorker();
  if (&worker == this) {
    load_.fetch_add(1, std::memory_order_relaxed);
    return Adopt(fd, now);
  }
  worker.HandOff(fd);
}

// Returns the worker with the fewest connections among those not handling an
// event now, preferring this one on a tie. A thread stuck in a slow handler
// so gets no new connections while another thread is free.
Worker& Worker::PickWorker() {
  Worker* best = this;
  int64_t best_load = load_.load(std::memory_order_relaxed);
  for (const auto& peer : peers_) {
    if (peer.get() == this || peer->busy_.load(std::memory_order_relaxed)) continue;
    int64_t load = peer->load_.load(std::memory_order_relaxed);
    if (load < best_load) {
      best = peer.get();
      best_load = load;
    }
  }
  return *best;
}

void Worker::HandOff(int fd) {
  load_.fetch_add(1, std::memory_order_relaxed);
  {
    std::lock_guard lock(handoff_mutex_);
    handed_off_.push_back(fd);
  }
  uint64_t one = 1;
  if (::write(handoff_fd_, &one, sizeof(one)) != sizeof(one)) {
    // Only an overflowing counter fails, and then a wake-up is pending anyway.
    spdlog::warn("http hand-off eventfd write failed error={}", ErrnoText(errno));
  }
}

void Worker::AdoptHandedOff(Clock::time_point now) {
  uint64_t count = 0;
  if (::read(handoff_fd_, &count, sizeof(count)) < 0 && errno != EAGAIN) {
    spdlog::warn("http hand-off eventfd read failed error={}", ErrnoText(errno));
  }
  std::vector<int> sockets;
  {
    std::lock_guard lock(handoff_mutex_);
    sockets.swap(handed_off_);
  }
  for (int fd : sockets) Adopt(fd, now);
}

// Starts serving the accepted socket `fd`, already counted in load_.
void Worker::Adopt(int fd, Clock::time_point now) {
  auto connection = std::make_unique<Connection>(state_, fd, epoll_fd_, now);
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.ptr = connection.get();
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &event) != 0) {
    spdlog::warn("http epoll_ctl of a new connection failed error={}", ErrnoText(errno));
    load_.fetch_sub(1, std::memory_order_relaxed);
    return;  // the connection's destructor closes the socket
  }
  Connection* key = connection.get();
  connections_.emplace(key, std::move(connection));
}

// Takes the listening socket out of this thread's epoll instance. After
// BeginDrain it stays readable (accept fails at once), so keeping it would spin.
void Worker::StopAccepting() {
  if (!accepting_) return;
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, listen_fd_, nullptr);
  accepting_ = false;
}

void Worker::Dispatch(Connection* connection, uint32_t events, Clock::time_point now) {
  busy_.store(true, std::memory_order_relaxed);
  try {
    connection->OnEvent(events, now);
  } catch (const std::exception& e) {
    // Handler exceptions are caught in ServerState::Call; this is the
    // transport's own failure (e.g. std::bad_alloc), so only this connection goes.
    spdlog::error("http connection failed with an exception error={}", e.what());
    connection->Close();
  }
  busy_.store(false, std::memory_order_relaxed);
  if (connection->closed()) {
    connections_.erase(connection);
    load_.fetch_sub(1, std::memory_order_relaxed);
  }
}

void Worker::Sweep(Clock::time_point now) {
  for (auto it = connections_.begin(); it != connections_.end();) {
    it->second->CloseIfExpired(now);
    if (it->second->closed()) {
      it = connections_.erase(it);
      load_.fetch_sub(1, std::memory_order_relaxed);
    } else {
      ++it;
    }
  }
  if (resume_accept_at_ && now >= *resume_accept_at_ && !state_.draining()) {
    resume_accept_at_.reset();
    epoll_event listen{};
    listen.events = EPOLLIN | EPOLLEXCLUSIVE;
    listen.data.ptr = &listen_tag_;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, listen_fd_, &listen) == 0) accepting_ = true;
  }
}

}  // namespace

class Server::Impl {
 public:
  Impl(ServerOptions options, Handler handler) : state_(std::move(options), std::move(handler)) {}
  ~Impl();

  Result<uint16_t> Start();
  void BeginDrain();
  void Stop();
  int64_t in_flight() const { return state_.in_flight(); }
  int64_t connections_accepted() const { return state_.connections_accepted(); }

 private:
  Result<tcp::endpoint> ResolveListenAddress() const;
  Result<uint16_t> Listen(const tcp::endpoint& endpoint);
  void CloseDescriptors();

  ServerState state_;
  const ServerOptions& options_ = state_.options();

  std::mutex lifecycle_mutex_;  // guards the members below
  bool started_ = false;
  bool stopped_ = false;
  int listen_fd_ = -1;
  int wake_fd_ = -1;
  std::vector<std::unique_ptr<Worker>> workers_;
  std::vector<std::thread> threads_;
};

Server::Impl::~Impl() { CloseDescriptors(); }

Result<tcp::endpoint> Server::Impl::ResolveListenAddress() const {
  boost::system::error_code ec;
  asio::ip::address address = asio::ip::make_address(options_.host, ec);
  if (!ec) return tcp::endpoint(address, options_.port);
  asio::io_context context;
  tcp::resolver resolver(context);
  auto results = resolver.resolve(options_.host, std::to_string(options_.port),
                                  tcp::resolver::passive, ec);
  if (ec || results.empty()) {
    return InvalidArgument(fmt::format("cannot resolve listen host \"{}\": {}", options_.host,
                                       ec ? ec.message() : "no addresses"));
  }
  return results.begin()->endpoint();
}

// Opens, binds and listens on a non-blocking socket; returns the bound port.
Result<uint16_t> Server::Impl::Listen(const tcp::endpoint& endpoint) {
  listen_fd_ = ::socket(endpoint.protocol().family(), SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                        0);
  int reuse = 1;
  bool ok = listen_fd_ >= 0 &&
            ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &reuse, sizeof(reuse)) == 0 &&
            ::bind(listen_fd_, endpoint.data(), endpoint.size()) == 0 &&
            ::listen(listen_fd_, SOMAXCONN) == 0;
  if (!ok) {
    int error = errno;
    CloseDescriptors();
    return Unavailable(fmt::format("cannot listen on {}:{}: {}", options_.host, options_.port,
                                   ErrnoText(error)));
  }
  sockaddr_storage bound{};
  socklen_t length = sizeof(bound);
  if (::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&bound), &length) != 0) {
    int error = errno;
    CloseDescriptors();
    return Internal(fmt::format("getsockname of the listening socket failed: {}",
                                ErrnoText(error)));
  }
  // sin_port and sin6_port sit at the same offset.
  return ntohs(reinterpret_cast<sockaddr_in*>(&bound)->sin_port);
}

void Server::Impl::CloseDescriptors() {
  workers_.clear();
  if (listen_fd_ >= 0) ::close(listen_fd_);
  if (wake_fd_ >= 0) ::close(wake_fd_);
  listen_fd_ = wake_fd_ = -1;
}

Result<uint16_t> Server::Impl::Start() {
  std::lock_guard lock(lifecycle_mutex_);
  if (started_) return FailedPrecondition("http server was already started");
  TANDEM_ASSIGN_OR_RETURN(tcp::endpoint endpoint, ResolveListenAddress());

  // Step 1: bind and listen.
  TANDEM_ASSIGN_OR_RETURN(uint16_t port, Listen(endpoint));

  // Step 2: one worker per thread, all woken by one eventfd.
  wake_fd_ = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake_fd_ < 0) {
    int error = errno;
    CloseDescriptors();
    return Internal(fmt::format("eventfd failed: {}", ErrnoText(error)));
  }
  size_t thread_count = static_cast<size_t>(std::max(1, options_.threads));
  for (size_t i = 0; i < thread_count; ++i) {
    auto worker = std::make_unique<Worker>(state_, listen_fd_, wake_fd_, workers_);
    if (Status status = worker->Init(); !status) {
      CloseDescriptors();
      return std::unexpected(status.error());
    }
    workers_.push_back(std::move(worker));
  }

  // Step 3: run the threads, each on its own CPU with pin_threads.
  std::vector<int> cpus;
  if (options_.pin_threads) cpus = AllowedCpus();
  for (size_t i = 0; i < workers_.size(); ++i) {
    std::optional<int> cpu;
    if (!cpus.empty()) cpu = cpus[i % cpus.size()];
    threads_.emplace_back([&worker = *workers_[i], cpu] {
      if (cpu) PinCurrentThread(*cpu);
      worker.Run();
    });
  }
  started_ = true;
  spdlog::info("http server listening host={} port={} threads={}", options_.host, port,
               thread_count);
  return port;
}

void Server::Impl::BeginDrain() {
  std::lock_guard lock(lifecycle_mutex_);
  if (!started_ || stopped_ || state_.draining()) return;
  state_.SetDraining();
  // Shutting down a listening socket stops it listening on Linux: new connects
  // are refused at once. A thread woken for the socket then fails to accept
  // and stops watching it.
  if (::shutdown(listen_fd_, SHUT_RD) != 0) {
    spdlog::warn("http drain could not stop listening errno={}", errno);
  }
  spdlog::info("http server draining in_flight={}", in_flight());
}

void Server::Impl::Stop() {
  std::lock_guard lock(lifecycle_mutex_);
  if (!started_ || stopped_) {
    stopped_ = true;
    return;
  }
  stopped_ = true;
  state_.SetDraining();
  uint64_t one = 1;
  if (::write(wake_fd_, &one, sizeof(one)) != sizeof(one)) {
    spdlog::error("http server could not wake its threads errno={}", errno);
  }
  for (auto& thread : threads_) thread.join();
  threads_.clear();
  // Destroying the workers destroys their connections, which closes the sockets.
  CloseDescriptors();
  spdlog::info("http server stopped");
}

Server::Server(ServerOptions options, Handler handler)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(handler))) {}

Server::~Server() { Stop(); }

Result<uint16_t> Server::Start() { return impl_->Start(); }

void Server::BeginDrain() { impl_->BeginDrain(); }

bool Server::WaitIdle(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (impl_->in_flight() > 0) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  return true;
}

void Server::Stop() { impl_->Stop(); }

int64_t Server::in_flight() const { return impl_->in_flight(); }

int64_t Server::connections_accepted() const { return impl_->connections_accepted(); }

}  // namespace tandem::http
