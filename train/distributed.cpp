#include "train/distributed.h"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>
#include <vector>

#include "core/error.h"
#include "train/cli.h"

namespace ttt {

namespace {

// One socket, closed when it goes out of scope.
struct Socket {
  int fd = -1;
  explicit Socket(int f) : fd(f) {}
  ~Socket() {
    if (fd >= 0) ::close(fd);
  }
  Socket(const Socket&) = delete;
  Socket& operator=(const Socket&) = delete;
};

int parse_env_int(const char* name, const char* text, int lo, int hi) {
  return static_cast<int>(cli::parse_int(std::string("environment variable ") + name, text, lo, hi));
}

sockaddr_in address_of(const std::string& host, int port) {
  addrinfo hints{}, *found = nullptr;
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  const int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &found);
  TTT_CHECK(rc == 0 && found, "rendezvous", "cannot resolve MASTER_ADDR '", host, "': ", ::gai_strerror(rc));
  sockaddr_in a = *reinterpret_cast<sockaddr_in*>(found->ai_addr);
  ::freeaddrinfo(found);
  a.sin_port = htons(static_cast<uint16_t>(port));
  return a;
}

void send_all(int fd, const std::string& bytes, const std::string& what) {
  const uint64_t n = bytes.size();
  std::string framed(reinterpret_cast<const char*>(&n), 8);
  framed += bytes;
  for (size_t sent = 0; sent < framed.size();) {
    const ssize_t k = ::send(fd, framed.data() + sent, framed.size() - sent, MSG_NOSIGNAL);
    TTT_CHECK(k > 0, "rendezvous", "sending to ", what, " failed: ", std::strerror(errno));
    sent += static_cast<size_t>(k);
  }
}

std::string receive_all(int fd, double timeout_s, const std::string& what) {
  uint64_t need = 8;
  bool header = true;
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  std::string buffer;
  while (buffer.size() < need) {
    pollfd p{fd, POLLIN, 0};
    const int left = static_cast<int>(
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
    TTT_CHECK(left > 0 && ::poll(&p, 1, left) > 0, "rendezvous", "nothing from ", what, " within ", timeout_s, " s");
    char chunk[4096];
    const ssize_t k = ::recv(fd, chunk, sizeof chunk, 0);
    TTT_CHECK(k > 0, "rendezvous", what, " closed the connection early");
    buffer.append(chunk, static_cast<size_t>(k));
    if (header && buffer.size() >= 8) {
      uint64_t n = 0;
      std::memcpy(&n, buffer.data(), 8);
      TTT_CHECK(n <= (1u << 20), "rendezvous", what, " announced ", n, " bytes (not a ttt.cpp rendezvous?)");
      need = 8 + n;
      header = false;
    }
  }
  return buffer.substr(8, need - 8);
}

}  // namespace

std::string DistributedEnv::str() const {
  if (!active()) return "one process";
  return "rank " + std::to_string(rank) + " of " + std::to_string(world_size) + " (local " + std::to_string(local_rank) + ", " +
         source + ", " + master_addr + ":" + std::to_string(master_port) + ")";
}

DistributedEnv distributed_env(const EnvReader& get_in) {
  const EnvReader get = get_in ? get_in : EnvReader([](const char* n) -> const char* { return std::getenv(n); });
  DistributedEnv e;
  const char *rank = get("RANK"), *world = get("WORLD_SIZE"), *local = get("LOCAL_RANK");
  if (!rank && !world && get("SLURM_PROCID") && get("SLURM_NTASKS")) {  // Slurm's names
    rank = get("SLURM_PROCID");
    world = get("SLURM_NTASKS");
    local = get("SLURM_LOCALID");
    e.source = "slurm";
  } else {
    e.source = "torchrun";
  }
  if (!rank && !world) return DistributedEnv{};
  TTT_CHECK(rank && world, "distributed", (rank ? "RANK is set but WORLD_SIZE is not" : "WORLD_SIZE is set but RANK is not"),
            " (both, with MASTER_ADDR and MASTER_PORT, as torchrun sets them)");
  e.world_size = parse_env_int(e.source == "slurm" ? "SLURM_NTASKS" : "WORLD_SIZE", world, 1, 1 << 16);
  e.rank = parse_env_int(e.source == "slurm" ? "SLURM_PROCID" : "RANK", rank, 0, 1 << 16);
  TTT_CHECK(e.rank < e.world_size, "distributed", "rank ", e.rank, " is outside the world of ", e.world_size, " processes");
  e.local_rank = local ? parse_env_int(e.source == "slurm" ? "SLURM_LOCALID" : "LOCAL_RANK", local, 0, 1 << 16) : e.rank;
  if (!e.active()) return e;
  const char *addr = get("MASTER_ADDR"), *port = get("MASTER_PORT");
  TTT_CHECK(addr && port, "distributed", "a world of ", e.world_size, " processes needs MASTER_ADDR and MASTER_PORT (",
            addr ? "MASTER_PORT" : "MASTER_ADDR", " is not set): where rank 0 listens for the others");
  e.master_addr = addr;
  e.master_port = parse_env_int("MASTER_PORT", port, 1, 65535);
  return e;
}

std::string rendezvous_broadcast(const DistributedEnv& env, const std::string& payload, double timeout_s) {
  if (!env.active()) return payload;
  const std::string where = env.master_addr + ":" + std::to_string(env.master_port);
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(timeout_s);
  if (env.rank == 0) {
    Socket server(::socket(AF_INET, SOCK_STREAM, 0));
    TTT_CHECK(server.fd >= 0, "rendezvous", "socket: ", std::strerror(errno));
    const int yes = 1;
    ::setsockopt(server.fd, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    sockaddr_in a = address_of(env.master_addr, env.master_port);
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    TTT_CHECK(::bind(server.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0, "rendezvous", "rank 0 cannot listen on port ",
              env.master_port, ": ", std::strerror(errno), " (is MASTER_PORT in use by another run?)");
    TTT_CHECK(::listen(server.fd, env.world_size) == 0, "rendezvous", "listen: ", std::strerror(errno));
    for (int joined = 1; joined < env.world_size; ++joined) {
      pollfd p{server.fd, POLLIN, 0};
      const int left = static_cast<int>(
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count());
      TTT_CHECK(left > 0 && ::poll(&p, 1, left) > 0, "rendezvous", "rank 0 waited ", timeout_s, " s on ", where, " and ",
                env.world_size - joined, " of the ", env.world_size - 1, " other ranks never came");
      Socket peer(::accept(server.fd, nullptr, nullptr));
      TTT_CHECK(peer.fd >= 0, "rendezvous", "accept: ", std::strerror(errno));
      send_all(peer.fd, payload, "a rank");
    }
    return payload;
  }
  while (true) {  // rank 0 may not listen yet: retry until the deadline
    Socket s(::socket(AF_INET, SOCK_STREAM, 0));
    TTT_CHECK(s.fd >= 0, "rendezvous", "socket: ", std::strerror(errno));
    const sockaddr_in a = address_of(env.master_addr, env.master_port);
    if (::connect(s.fd, reinterpret_cast<const sockaddr*>(&a), sizeof a) == 0) {
      const double left = std::chrono::duration<double>(deadline - std::chrono::steady_clock::now()).count();
      return receive_all(s.fd, std::max(left, 1.0), "rank 0 at " + where);
    }
    TTT_CHECK(std::chrono::steady_clock::now() < deadline, "rendezvous", "rank ", env.rank, " could not reach rank 0 at ", where,
              " within ", timeout_s, " s: ", std::strerror(errno));
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

int free_local_port() {
  Socket s(::socket(AF_INET, SOCK_STREAM, 0));
  TTT_CHECK(s.fd >= 0, "free_local_port", "socket: ", std::strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  TTT_CHECK(::bind(s.fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0, "free_local_port", "bind: ", std::strerror(errno));
  socklen_t len = sizeof a;
  ::getsockname(s.fd, reinterpret_cast<sockaddr*>(&a), &len);
  return ntohs(a.sin_port);
}

}  // namespace ttt
