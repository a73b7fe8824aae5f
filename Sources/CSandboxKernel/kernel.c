#define _GNU_SOURCE
#include "CSandboxKernel.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <unistd.h>
#include <malloc.h>
#include <sched.h>
#include <grp.h>

// Landlock UAPI, spelled out so the build does not depend on the headers' age.
#define LL_CREATE_RULESET_VERSION (1U << 0)
#define LL_RULE_PATH_BENEATH 1
#define LL_ACCESS_FS_READ_FILE (1ULL << 2)
#define LL_ACCESS_FS_READ_DIR (1ULL << 3)

struct ll_ruleset_attr { uint64_t handled_access_fs, handled_access_net, scoped; };
struct ll_path_beneath_attr { uint64_t allowed_access; int32_t parent_fd; } __attribute__((packed));

int crucible_landlock_abi(void) {
    return (int)syscall(444, NULL, 0, LL_CREATE_RULESET_VERSION);
}

uint64_t crucible_landlock_fs_rights(int abi) {
    if (abi < 1) return 0;
    if (abi == 1) return (1ULL << 13) - 1;   // EXECUTE .. MAKE_SYM
    if (abi == 2) return (1ULL << 14) - 1;   // + REFER
    if (abi <= 4) return (1ULL << 15) - 1;   // + TRUNCATE
    return (1ULL << 16) - 1;                 // + IOCTL_DEV (ABI 5+)
}

uint64_t crucible_landlock_read_rights(void) { return LL_ACCESS_FS_READ_FILE | LL_ACCESS_FS_READ_DIR; }

int crucible_landlock_create_ruleset(int abi, uint64_t handled_fs, uint64_t handled_net, uint64_t scoped) {
    struct ll_ruleset_attr attr = { handled_fs, handled_net, scoped };
    size_t size = abi >= 6 ? 24 : abi >= 4 ? 16 : 8;
    return (int)syscall(444, &attr, size, 0);
}

int crucible_landlock_allow_path(int ruleset_fd, const char *path, uint64_t access) {
    int fd = open(path, O_PATH | O_CLOEXEC);
    if (fd < 0) return -1;
    struct ll_path_beneath_attr rule = { access, fd };
    int rc = (int)syscall(445, ruleset_fd, LL_RULE_PATH_BENEATH, &rule, 0);
    int saved = errno;
    close(fd);
    errno = saved;
    return rc;
}

int crucible_memfd(const char *name) { return (int)syscall(SYS_memfd_create, name, MFD_CLOEXEC); }
int crucible_pidfd_open(pid_t pid) { return (int)syscall(SYS_pidfd_open, pid, 0); }
int crucible_pidfd_send_signal(int pidfd, int sig) { return (int)syscall(SYS_pidfd_send_signal, pidfd, sig, NULL, 0); }
int crucible_sigchld_fd(void) {
    sigset_t mask;
    sigemptyset(&mask);
    sigaddset(&mask, SIGCHLD);
    if (sigprocmask(SIG_BLOCK, &mask, NULL) != 0) return -1;
    return signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
}

void crucible_drain_signalfd(int fd) {
    struct signalfd_siginfo info;
    while (read(fd, &info, sizeof info) > 0) {}
}

int crucible_set_dumpable(int on) { return prctl(PR_SET_DUMPABLE, on, 0, 0, 0); }
int crucible_set_no_new_privs(void) { return prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); }
int crucible_set_pdeathsig(int sig) { return prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0); }
int crucible_unshare(int flags) { return unshare(flags); }
int crucible_limit_malloc_arenas(int count) { return mallopt(M_ARENA_MAX, count); }
int crucible_setgroups_empty(void) { return setgroups(0, NULL); }

static int write_file(const char *path, const char *text) {
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    ssize_t n = write(fd, text, strlen(text));
    int saved = errno;
    close(fd);
    errno = saved;
    return n == (ssize_t)strlen(text) ? 0 : -1;
}

int crucible_map_ids(uid_t inside_uid, uid_t outside_uid, gid_t inside_gid, gid_t outside_gid) {
    char line[64];
    if (write_file("/proc/self/setgroups", "deny") != 0 && errno != ENOENT) return -1;
    snprintf(line, sizeof line, "%u %u 1", inside_uid, outside_uid);
    if (write_file("/proc/self/uid_map", line) != 0) return -1;
    snprintf(line, sizeof line, "%u %u 1", inside_gid, outside_gid);
    return write_file("/proc/self/gid_map", line);
}

pid_t crucible_spawn_zygote(const char *path, char *const argv[], int control_fd, int log_fd) {
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_adddup2(&actions, log_fd, 1);
    posix_spawn_file_actions_adddup2(&actions, log_fd, 2);
    posix_spawn_file_actions_adddup2(&actions, control_fd, 3);
    posix_spawn_file_actions_addclosefrom_np(&actions, 4);
    // Nothing of the host's environment. Not LD_BIND_NOW either, though binding every symbol
    // at start saved about 20 copy-on-write faults per worker: with the shared Swift runtime
    // of a development build, glibc's dynamic linker then printed two "direct reference to
    // protected function" warnings on every command's stderr (BENCHMARKS.md, "Design
    // measurements": bind now).
    char *const env[] = { NULL };
    pid_t pid = -1;
    int rc = posix_spawn(&pid, path, &actions, NULL, argv, env);
    posix_spawn_file_actions_destroy(&actions);
    if (rc != 0) { errno = rc; return -1; }
    return pid;
}

ssize_t crucible_send_with_fds(int sock, const void *buf, size_t len, const int *fds, int nfds) {
    struct iovec iov = { (void *)buf, len };
    union { char bytes[CMSG_SPACE(4 * sizeof(int))]; struct cmsghdr align; } control;
    struct msghdr msg = { 0 };
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    if (nfds > 0) {
        if (nfds > 4) { errno = EINVAL; return -1; }
        memset(&control, 0, sizeof control);
        msg.msg_control = control.bytes;
        msg.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        struct cmsghdr *cmsg = CMSG_FIRSTHDR(&msg);
        cmsg->cmsg_level = SOL_SOCKET;
        cmsg->cmsg_type = SCM_RIGHTS;
        cmsg->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(cmsg), fds, nfds * sizeof(int));
    }
    ssize_t n;
    do { n = sendmsg(sock, &msg, MSG_NOSIGNAL); } while (n < 0 && errno == EINTR);
    return n;
}

ssize_t crucible_recv_with_fds(int sock, void *buf, size_t len, int *fds, int max_fds, int *nfds) {
    struct iovec iov = { buf, len };
    union { char bytes[CMSG_SPACE(8 * sizeof(int))]; struct cmsghdr align; } control;
    struct msghdr msg = { 0 };
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.bytes;
    msg.msg_controllen = sizeof control.bytes;
    ssize_t n;
    do { n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC); } while (n < 0 && errno == EINTR);
    *nfds = 0;
    if (n < 0) return n;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
        int count = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
        int *received = (int *)CMSG_DATA(c);
        for (int i = 0; i < count; i++) {
            if (*nfds < max_fds) fds[(*nfds)++] = received[i];
            else close(received[i]);   // never leak what we did not ask for
        }
    }
    return n;
}

// MARK: Worker confinement

static int sigsys_report_fd = 3;

// Runs when seccomp traps a forbidden call: the call never executed. Name it to
// the host, then die of SIGSYS, which is how the host knows it was seccomp (the report
// alone proves nothing: code can write the same frame). To die of it, ask for SIGSYS's
// default action: the policy traps that request too, and a trap while SIGSYS is blocked
// (as it is inside its own handler) makes the kernel force SIGSYS with the default action.
static void report_forbidden_syscall(int sig, siginfo_t *info, void *context) {
    (void)sig; (void)context;
    unsigned char frame[13];
    uint32_t length = 9, nr = (uint32_t)info->si_syscall, arch = info->si_arch;
    memcpy(frame, &length, 4);
    frame[4] = CRUCIBLE_FRAME_SECCOMP;
    memcpy(frame + 5, &nr, 4);
    memcpy(frame + 9, &arch, 4);
    ssize_t ignored = write(sigsys_report_fd, frame, sizeof frame);
    (void)ignored;
    struct sigaction default_action = { 0 };
    default_action.sa_handler = SIG_DFL;
    syscall(SYS_rt_sigaction, SIGSYS, &default_action, NULL, sizeof(sigset_t));
    // Not reached under the policy. Without it (a broken policy), end as a plain crash.
    syscall(SYS_kill, getpid(), SIGKILL);
    _exit(128 + SIGSYS);
}

static int fail(char *error, size_t error_len, const char *step) {
    snprintf(error, error_len, "%s: %s", step, strerror(errno));
    return -1;
}

static int set_limit(int resource, rlim_t soft, rlim_t hard) {
    struct rlimit limit = { soft, hard };
    return setrlimit(resource, &limit);
}

int crucible_confine_worker(const struct crucible_confinement *c, char *error, size_t error_len) {
    // 1. Descriptors: the channel becomes fd 3, the ruleset fd 4, the rest closes.
    if (c->channel_fd != 3 && dup2(c->channel_fd, 3) < 0) return fail(error, error_len, "dup2 channel");
    int ruleset = -1;
    if (c->landlock_ruleset_fd >= 0) {
        if (dup2(c->landlock_ruleset_fd, 4) < 0) return fail(error, error_len, "dup2 ruleset");
        ruleset = 4;
    }
    if (c->close_other_fds) {
        close(0); close(1); close(2);
        if (syscall(SYS_close_range, ruleset >= 0 ? 5 : 4, ~0U, 0) != 0) return fail(error, error_len, "close_range");
    }
    // 2. Resource limits. CPU: SIGXCPU at the soft limit, SIGKILL one second later.
    if (c->apply_rlimits) {
        if (set_limit(RLIMIT_CPU, c->cpu_seconds, c->cpu_seconds + 1) != 0) return fail(error, error_len, "RLIMIT_CPU");
        if (set_limit(RLIMIT_AS, c->address_space_bytes, c->address_space_bytes) != 0) return fail(error, error_len, "RLIMIT_AS");
        if (set_limit(RLIMIT_FSIZE, c->file_size_bytes, c->file_size_bytes) != 0) return fail(error, error_len, "RLIMIT_FSIZE");
        if (set_limit(RLIMIT_NOFILE, c->open_files, c->open_files) != 0) return fail(error, error_len, "RLIMIT_NOFILE");
        if (set_limit(RLIMIT_CORE, 0, 0) != 0) return fail(error, error_len, "RLIMIT_CORE");
        // Threads: RLIMIT_NPROC counts a user's tasks per user namespace, so the worker enters
        // one of its own first and the bound is this worker's alone, not shared with every
        // worker of the same uid. Its capabilities there reach nothing: no file, mount or
        // network of the parent namespace is its, and seccomp refuses unshare, mount and setns.
        // Where that namespace cannot be made, a bound of 1 refuses every thread instead.
        if (c->max_tasks) {
            rlim_t tasks = unshare(CLONE_NEWUSER) == 0 ? c->max_tasks : 1;
            if (set_limit(RLIMIT_NPROC, tasks, tasks) != 0) return fail(error, error_len, "RLIMIT_NPROC");
        }
    }
    // 3. Die with the zygote, hide from same-uid debuggers, never gain privileges.
    if (c->apply_prctl) {
        if (prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0) != 0) return fail(error, error_len, "PR_SET_PDEATHSIG");
        if (getppid() != c->expected_parent) { errno = ESRCH; return fail(error, error_len, "zygote gone"); }
        if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) return fail(error, error_len, "PR_SET_DUMPABLE");
    }
    if ((c->apply_prctl || ruleset >= 0 || c->bpf) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return fail(error, error_len, "PR_SET_NO_NEW_PRIVS");
    // 4. Landlock: the ruleset was built once in the zygote.
    if (ruleset >= 0) {
        if (syscall(446, ruleset, 0) != 0) return fail(error, error_len, "landlock_restrict_self");
        close(ruleset);
    }
    // 5. seccomp last, from BPF compiled once; only "this pid" differs per worker.
    if (c->bpf) {
        struct sigaction action = { 0 };
        action.sa_sigaction = report_forbidden_syscall;
        action.sa_flags = SA_SIGINFO;
        sigemptyset(&action.sa_mask);
        sigsys_report_fd = 3;
        if (sigaction(SIGSYS, &action, NULL) != 0) return fail(error, error_len, "sigaction SIGSYS");
        sigset_t unblock;
        sigemptyset(&unblock);
        sigaddset(&unblock, SIGSYS);
        sigprocmask(SIG_UNBLOCK, &unblock, NULL);

        size_t n = c->bpf_instructions;
        struct sock_filter *program = malloc(n * sizeof *program);
        if (!program) return fail(error, error_len, "malloc bpf");
        memcpy(program, c->bpf, n * sizeof *program);
        uint32_t self = (uint32_t)getpid();
        for (size_t i = 0; i < n; i++)
            if (program[i].k == c->self_pid_placeholder) program[i].k = self;
        struct sock_fprog prog = { (unsigned short)n, program };
        long rc = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, 0, &prog);
        int saved = errno;
        free(program);
        errno = saved;
        if (rc != 0) return fail(error, error_len, "seccomp");
    }
    return 0;
}

int crucible_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

// MARK: Private parent folders
//
// The zygote drops root for nobody, who cannot walk through a 0700 folder above the paths
// the host lets workers read (a checkout in a private home or `mktemp -d` folder). While
// still root, the zygote re-roots those paths in a mount namespace of its own; workers
// inherit it. Headers here rather than at the top: this section stands on its own.
#include <limits.h>
#include <sys/mount.h>
#include <sys/stat.h>

// UAPI values, spelled out so the build does not depend on the headers' age (glibc 2.36).
#define CRUCIBLE_SYS_OPEN_TREE 428
#define CRUCIBLE_SYS_MOVE_MOUNT 429
#define CRUCIBLE_OPEN_TREE_CLONE 1
#define CRUCIBLE_AT_RECURSIVE 0x8000
#define CRUCIBLE_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define CRUCIBLE_EXPOSE_MAX 64

int crucible_private_mount_namespace(void) {
    if (unshare(CLONE_NEWNS) != 0) return -1;
    // Mounts are shared with the host's namespace by default (systemd): without this, the
    // skeleton would appear on the host too.
    return mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL);
}

static int expose_fail(char *error, size_t error_len, const char *step, const char *path) {
    snprintf(error, error_len, "%s %s: %s", step, path, strerror(errno));
    return -1;
}

// mkdir, then chmod: the mode must not depend on the umask the zygote inherited.
static int make_directory(const char *path) {
    if (mkdir(path, 0755) != 0) return errno == EEXIST ? 0 : -1;
    return chmod(path, 0755);
}

int crucible_expose_beneath(const char *ancestor, const char *const *paths, int count, char *error, size_t error_len) {
    size_t ancestor_len = strlen(ancestor);
    if (count < 1 || count > CRUCIBLE_EXPOSE_MAX || ancestor[0] != '/' || ancestor_len < 2) {
        errno = EINVAL;
        return expose_fail(error, error_len, "arguments for", ancestor);
    }
    for (int i = 0; i < count; i++) {
        if (strncmp(paths[i], ancestor, ancestor_len) != 0 || paths[i][ancestor_len] != '/' || strlen(paths[i]) >= PATH_MAX) {
            errno = EINVAL;
            return expose_fail(error, error_len, "path not beneath the ancestor:", paths[i]);
        }
    }
    int clones[CRUCIBLE_EXPOSE_MAX];
    int is_directory[CRUCIBLE_EXPOSE_MAX];
    int taken = 0, rc = -1, skeleton = 0;
    // 1. Clones first: once the skeleton covers the ancestor, the paths are out of sight.
    for (; taken < count; taken++) {
        struct stat st;
        if (stat(paths[taken], &st) != 0) { expose_fail(error, error_len, "stat", paths[taken]); goto done; }
        is_directory[taken] = S_ISDIR(st.st_mode);
        clones[taken] = (int)syscall(CRUCIBLE_SYS_OPEN_TREE, AT_FDCWD, paths[taken],
                                     CRUCIBLE_OPEN_TREE_CLONE | O_CLOEXEC | CRUCIBLE_AT_RECURSIVE);
        if (clones[taken] < 0) { expose_fail(error, error_len, "open_tree", paths[taken]); goto done; }
    }
    // 2. The skeleton: root's, 0755, no devices, no set-uid, nothing executable of its own.
    if (mount("tmpfs", ancestor, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "mode=0755,size=1m,nr_inodes=4096") != 0) {
        expose_fail(error, error_len, "mount tmpfs on", ancestor);
        goto done;
    }
    skeleton = 1;
    // 3. The folders down to each path, a mount point of the same kind, and the clone on it.
    for (int i = 0; i < count; i++) {
        char path[PATH_MAX];
        snprintf(path, sizeof path, "%s", paths[i]);
        for (char *slash = path + ancestor_len + 1; (slash = strchr(slash, '/')) != NULL; slash++) {
            *slash = '\0';
            int made = make_directory(path);
            *slash = '/';
            if (made != 0) { expose_fail(error, error_len, "mkdir", path); goto done; }
        }
        if (is_directory[i]) {
            if (make_directory(path) != 0) { expose_fail(error, error_len, "mkdir", path); goto done; }
        } else {
            int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
            if (fd < 0) { expose_fail(error, error_len, "create mount point", path); goto done; }
            close(fd);
        }
        if (syscall(CRUCIBLE_SYS_MOVE_MOUNT, clones[i], "", AT_FDCWD, path, CRUCIBLE_MOVE_MOUNT_F_EMPTY_PATH) != 0) {
            expose_fail(error, error_len, "move_mount onto", path);
            goto done;
        }
    }
    // 4. Nothing may be added to the skeleton later (the clones keep their own flags).
    if (mount(NULL, ancestor, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0) {
        expose_fail(error, error_len, "remount read-only", ancestor);
        goto done;
    }
    rc = 0;
done:;
    int saved = errno;
    // A half-built skeleton would hide what root could still read: take it away whole
    // (a lazy unmount takes the clones already moved onto it along).
    if (rc != 0 && skeleton) umount2(ancestor, MNT_DETACH);
    for (int i = 0; i < taken; i++) close(clones[i]);
    errno = saved;
    return rc;
}
