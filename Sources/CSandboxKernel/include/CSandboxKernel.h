// The Linux primitives the sandbox needs that Swift cannot call directly:
// raw syscalls (Landlock, pidfd, close_range, seccomp), variadic prctl,
// SCM_RIGHTS descriptor passing, and the ordered confinement of a worker.
#ifndef CSANDBOXKERNEL_H
#define CSANDBOXKERNEL_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

// MARK: Landlock (raw syscalls 444-446; no library exists on Debian 12)

/// The kernel's Landlock ABI version, or -1 with errno when Landlock is absent or disabled.
int crucible_landlock_abi(void);
/// Creates a ruleset handling the given rights; fields beyond the ABI's are dropped.
int crucible_landlock_create_ruleset(int abi, uint64_t handled_fs, uint64_t handled_net, uint64_t scoped);
/// Grants `access` beneath `path` in the ruleset.
int crucible_landlock_allow_path(int ruleset_fd, const char *path, uint64_t access);
/// Every filesystem right the given ABI knows.
uint64_t crucible_landlock_fs_rights(int abi);
uint64_t crucible_landlock_read_rights(void);

// MARK: Processes

/// An anonymous in-memory file (memfd_create), close-on-exec.
int crucible_memfd(const char *name);
int crucible_pidfd_open(pid_t pid);
int crucible_pidfd_send_signal(int pidfd, int sig);
int crucible_set_dumpable(int on);
/// mallopt(M_ARENA_MAX, count): <malloc.h> is not part of Swift's Glibc module.
int crucible_limit_malloc_arenas(int count);
/// Blocks SIGCHLD and returns a non-blocking signalfd that becomes readable when a child ends.
int crucible_sigchld_fd(void);
void crucible_drain_signalfd(int fd);
int crucible_set_no_new_privs(void);
int crucible_set_pdeathsig(int sig);
int crucible_unshare(int flags);
int crucible_setgroups_empty(void);
/// Writes /proc/self/{setgroups,uid_map,gid_map} so the caller is `inside` in its new user namespace.
int crucible_map_ids(uid_t inside_uid, uid_t outside_uid, gid_t inside_gid, gid_t outside_gid);

/// posix_spawn (never fork) of the zygote: empty environment, fd 0 = /dev/null,
/// fds 1 and 2 = log_fd, fd 3 = control_fd, everything else closed.
pid_t crucible_spawn_zygote(const char *path, char *const argv[], int control_fd, int log_fd);

// MARK: Descriptor passing

/// sendmsg with up to 4 descriptors as SCM_RIGHTS.
ssize_t crucible_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds);
/// recvmsg that also receives up to `max_fds` descriptors (marked close-on-exec).
ssize_t crucible_recv_with_fds(int sock, void *buf, size_t len, int *fds, int max_fds, int *nfds);

/// pipe2(fds, O_CLOEXEC): a pipe whose ends no other spawned child inherits (Swift's Glibc
/// module does not export pipe2). Returns 0, or -1 with errno.
int crucible_pipe_cloexec(int fds[2]);

// MARK: Worker confinement

/// What a freshly forked worker applies to itself, in this order:
/// fds, rlimits, prctl, Landlock, SIGSYS reporter, seccomp.
struct crucible_confinement {
    int channel_fd;          // becomes fd 3; every other descriptor is closed
    int close_other_fds;
    int landlock_ruleset_fd; // -1: no Landlock
    int apply_rlimits;
    uint64_t cpu_seconds;    // soft limit; the hard limit is one second later
    uint64_t address_space_bytes;
    uint64_t file_size_bytes;
    uint64_t open_files;
    uint64_t max_tasks;      // threads + 1 (RLIMIT_NPROC, in a user namespace of its own); 0: no bound
    int apply_prctl;
    pid_t expected_parent;   // PDEATHSIG races with the parent's death: re-check getppid()
    const void *bpf;         // struct sock_filter[]; NULL: no seccomp
    size_t bpf_instructions;
    uint32_t self_pid_placeholder; // BPF constant replaced by this worker's pid
};

/// Applies the confinement; on failure returns -1 and writes a reason into `error`.
int crucible_confine_worker(const struct crucible_confinement *c, char *error, size_t error_len);

/// The frame the SIGSYS reporter writes: u32 length (9), u8 'S', u32 syscall number, u32 arch.
#define CRUCIBLE_FRAME_SECCOMP 'S'

// MARK: Private parent folders

/// Enters a mount namespace of this process's own (unshare(CLONE_NEWNS)) and makes every
/// mount in it private, so nothing mounted afterwards reaches the host's namespace.
/// Returns 0, or -1 with errno (EPERM without CAP_SYS_ADMIN).
int crucible_private_mount_namespace(void);

/// Makes each of `paths` reachable whatever the permissions of `ancestor` and the folders
/// between them: takes a detached clone of each path's mount tree (open_tree, syscall 428),
/// mounts a small tmpfs skeleton (0755, root's) on `ancestor`, recreates the folders down to
/// each path (0755) and moves each clone back onto its own path (move_mount, 429), then makes
/// the skeleton read-only. Every path must be absolute, strictly beneath `ancestor`, and none
/// beneath another. All or nothing: on failure the skeleton is detached again (the view is
/// as before), -1 is returned and `error` names the failed step and path.
int crucible_expose_beneath(const char *ancestor, const char *const *paths, int count, char *error, size_t error_len);

// MARK: Interpreter images

/// Makes an interpreter image this process's root, for a zygote that embeds a Python whose
/// libraries need the image's own glibc. In a new private mount namespace: the image under a
/// read-only overlay (a tmpfs layer above it takes only mount points, so the cached image is
/// never written), each of `host_paths` bind-mounted read-only at its own path, `zygote`
/// (a file on the host) at `zygote_inside`, the host's /proc at /proc; then pivot_root into
/// it and the host's tree is detached. Paths from index `writable_from` on stay writable (a
/// test's scratch folder; pass `count` for none). Needs CAP_SYS_ADMIN. Returns 0, or -1 with
/// `error` naming the failed step and path; the caller then execs `zygote_inside`.
int crucible_enter_image(const char *image, const char *const *host_paths, int count, int writable_from, const char *zygote,
                         const char *zygote_inside, char *error, size_t error_len);

#endif
