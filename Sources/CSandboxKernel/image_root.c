// Entering an interpreter image: the zygote of a Python that is not the host's runs with
// the image (a Debian root of a newer suite) as its `/`, because that Python's libraries need
// the image's glibc and loader. See crucible_enter_image in CSandboxKernel.h.
#define _GNU_SOURCE
#include "CSandboxKernel.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#define IMAGE_SYS_OPEN_TREE 428
#define IMAGE_SYS_MOVE_MOUNT 429
#define IMAGE_SYS_PIVOT_ROOT 155
#define IMAGE_OPEN_TREE_CLONE 1
#define IMAGE_AT_RECURSIVE 0x8000
#define IMAGE_MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#define IMAGE_MAX_PATHS 64

static int image_fail(char *error, size_t error_len, const char *step, const char *path) {
    snprintf(error, error_len, "%s %s: %s", step, path, strerror(errno));
    return -1;
}

// The folders above `path` (relative to the working folder), then a mount point of its kind.
static int make_mount_point(const char *path, int directory) {
    char copy[PATH_MAX];
    if (snprintf(copy, sizeof copy, "%s", path) >= (int)sizeof copy) { errno = ENAMETOOLONG; return -1; }
    for (char *slash = strchr(copy + 1, '/'); slash != NULL; slash = strchr(slash + 1, '/')) {
        *slash = '\0';
        if (mkdir(copy, 0755) != 0 && errno != EEXIST) return -1;
        *slash = '/';
    }
    if (directory) return (mkdir(copy, 0755) != 0 && errno != EEXIST) ? -1 : 0;
    int fd = open(copy, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    close(fd);
    return 0;
}

int crucible_enter_image(const char *image, const char *const *host_paths, int count, int writable_from, const char *zygote,
                         const char *zygote_inside, char *error, size_t error_len) {
    if (image[0] != '/' || zygote[0] != '/' || zygote_inside[0] != '/' || count < 0 || count > IMAGE_MAX_PATHS) {
        errno = EINVAL;
        return image_fail(error, error_len, "arguments for", image);
    }
    if (unshare(CLONE_NEWNS) != 0) return image_fail(error, error_len, "unshare(CLONE_NEWNS) for", image);
    // Private first: nothing below may reach the host's mount namespace.
    if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) return image_fail(error, error_len, "making / private for", image);

    // 1. Detached clones of everything the new root shows: the image, the host paths, the
    //    zygote built for this interpreter and /proc. Taken before anything covers them.
    int image_tree = (int)syscall(IMAGE_SYS_OPEN_TREE, AT_FDCWD, image, IMAGE_OPEN_TREE_CLONE | O_CLOEXEC | IMAGE_AT_RECURSIVE);
    if (image_tree < 0) return image_fail(error, error_len, "open_tree", image);
    int clones[IMAGE_MAX_PATHS + 2];
    const char *targets[IMAGE_MAX_PATHS + 2];
    int directory[IMAGE_MAX_PATHS + 2];
    int total = 0;
    for (int i = 0; i < count + 2; i++) {
        const char *source = i < count ? host_paths[i] : (i == count ? zygote : "/proc");
        targets[i] = i == count ? zygote_inside : source;
        struct stat st;
        if (source[0] != '/' || stat(source, &st) != 0) return image_fail(error, error_len, "stat", source);
        directory[i] = S_ISDIR(st.st_mode);
        clones[i] = (int)syscall(IMAGE_SYS_OPEN_TREE, AT_FDCWD, source, IMAGE_OPEN_TREE_CLONE | O_CLOEXEC | IMAGE_AT_RECURSIVE);
        if (clones[i] < 0) return image_fail(error, error_len, "open_tree", source);
        total = i + 1;
    }

    // 2. A tmpfs over the image's folder (in this namespace only) holds the overlay's parts:
    //    the image read-only below, a scratch layer above that receives only mount points.
    if (mount("tmpfs", image, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m") != 0) return image_fail(error, error_len, "mount tmpfs on", image);
    if (chdir(image) != 0) return image_fail(error, error_len, "chdir", image);
    const char *parts[] = {"lower", "upper", "work", "root"};
    for (int i = 0; i < 4; i++) {
        if (mkdir(parts[i], 0755) != 0) return image_fail(error, error_len, "mkdir", parts[i]);
    }
    if (syscall(IMAGE_SYS_MOVE_MOUNT, image_tree, "", AT_FDCWD, "lower", IMAGE_MOVE_MOUNT_F_EMPTY_PATH) != 0) {
        return image_fail(error, error_len, "move_mount of the image onto", "lower");
    }
    // Relative paths: the kernel resolves them from this working folder, so the image's own
    // path never has to survive the option syntax (commas, colons).
    if (mount("overlay", "root", "overlay", MS_NOSUID, "lowerdir=lower,upperdir=upper,workdir=work") != 0) {
        return image_fail(error, error_len, "mount overlay on", "root");
    }

    // 3. Each clone at its own path (the zygote at its place inside), read-only but /proc and
    //    the paths from `writable_from` on (test-only folders).
    if (chdir("root") != 0) return image_fail(error, error_len, "chdir", "root");
    for (int i = 0; i < total; i++) {
        const char *relative = targets[i] + 1;  // "usr/lib/..." beneath the new root
        int is_proc = i == count + 1;
        if (!is_proc && make_mount_point(relative, directory[i]) != 0) return image_fail(error, error_len, "mount point for", targets[i]);
        if (syscall(IMAGE_SYS_MOVE_MOUNT, clones[i], "", AT_FDCWD, relative, IMAGE_MOVE_MOUNT_F_EMPTY_PATH) != 0) {
            return image_fail(error, error_len, "move_mount onto", targets[i]);
        }
        close(clones[i]);
        if (!is_proc && i < writable_from && mount(NULL, relative, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV, NULL) != 0) {
            return image_fail(error, error_len, "remount read-only", targets[i]);
        }
    }
    // 4. The root itself read-only, then it becomes `/` and the host's tree is let go.
    if (mount(NULL, ".", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID, NULL) != 0) return image_fail(error, error_len, "remount read-only", "the image root");
    if (syscall(IMAGE_SYS_PIVOT_ROOT, ".", ".") != 0) return image_fail(error, error_len, "pivot_root into", image);
    if (umount2(".", MNT_DETACH) != 0) return image_fail(error, error_len, "detaching the host's root from", image);
    if (chdir("/") != 0) return image_fail(error, error_len, "chdir", "/");
    return 0;
}
