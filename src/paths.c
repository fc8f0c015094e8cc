/*
 * paths.c - where an installed conveyor finds its files.
 *
 * The relative built-in defaults ("config/conveyor.cfg", "schemas",
 * "topology/marketplace.cfg") are the repository's layout, which is what
 * the tests and the quick start run from. An installed binary run from
 * anywhere else looks for the installed copies: first relative to the
 * binary itself (/proc/self/exe), so a tree installed with --prefix at
 * install time, or moved, still works; then in the absolute directories
 * the build was configured for. CMake passes both (CV_INSTALL_*) to this
 * file only. Nothing here reads the environment: CONVEYOR_CONFIG,
 * CONVEYOR_SCHEMAS and CONVEYOR_TOPOLOGY win before these are asked.
 */
#include "paths.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "config.h"

#ifndef CV_VERSION
#define CV_VERSION "unknown"
#endif
/* Defaults for a build without CMake's definitions: the usual layout. */
#ifndef CV_INSTALL_DATADIR
#define CV_INSTALL_DATADIR "/usr/local/share/conveyor"
#endif
#ifndef CV_INSTALL_SYSCONFDIR
#define CV_INSTALL_SYSCONFDIR "/usr/local/etc/conveyor"
#endif
#ifndef CV_INSTALL_BIN_TO_DATA
#define CV_INSTALL_BIN_TO_DATA "../share/conveyor"
#endif
#ifndef CV_INSTALL_BIN_TO_SYSCONF
#define CV_INSTALL_BIN_TO_SYSCONF "../etc/conveyor"
#endif

const char *cv_version(void)
{
    return CV_VERSION;
}

/* dir/rel if it exists, as a canonical absolute path; else NULL. */
static char *existing(const char *dir, const char *rel)
{
    char *joined = cv_asprintf("%s/%s", dir, rel);
    char *real = realpath(joined, NULL);

    free(joined);
    return real;
}

/* The directory of the running binary, or "" if it cannot be read. */
static void exe_dir(char *buf, size_t size)
{
    ssize_t n = readlink("/proc/self/exe", buf, size - 1);
    char *slash;

    buf[n > 0 ? n : 0] = '\0';
    slash = strrchr(buf, '/');
    if (slash)
        *slash = '\0';
    else
        buf[0] = '\0';
}

char *cv_paths_exe_dir(void)
{
    char dir[PATH_MAX];

    exe_dir(dir, sizeof(dir));
    return dir[0] ? cv_strdup(dir) : NULL;
}

static char *installed(const char *bin_to, const char *absolute,
                       const char *rel)
{
    char dir[PATH_MAX], *base, *found = NULL;

    exe_dir(dir, sizeof(dir));
    if (dir[0]) {
        base = cv_asprintf("%s/%s", dir, bin_to);
        found = existing(base, rel);
        free(base);
    }
    if (!found)
        found = existing(absolute, rel);
    return found;
}

char *cv_paths_installed_data(const char *rel)
{
    return installed(CV_INSTALL_BIN_TO_DATA, CV_INSTALL_DATADIR, rel);
}

char *cv_paths_installed_config(void)
{
    return installed(CV_INSTALL_BIN_TO_SYSCONF, CV_INSTALL_SYSCONFDIR,
                     "conveyor.cfg");
}

/* One path key: replaced by the installed copy if left at its default and
 * not there from the working directory. */
static void installed_default(struct cv_config *cfg, const char *key,
                              char **value)
{
    char *found;

    if (cv_config_origin(cfg, key) || access(*value, F_OK) == 0 ||
        !(found = cv_paths_installed_data(*value)))
        return;
    free(*value);
    *value = found;
    cv_config_set_origin(cfg, key, "the installed default");
}

void cv_paths_installed_defaults(struct cv_config *cfg)
{
    installed_default(cfg, "schemas.dir", &cfg->schema_dir);
    installed_default(cfg, "topology.path", &cfg->topology_path);
}
