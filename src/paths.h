/*
 * paths.h - where an installed conveyor finds its files, and its version.
 *
 * `cmake --install build --prefix P` puts the binary in P/bin, the schemas,
 * the topology and the migrations in P/share/conveyor and the configuration
 * in P/etc/conveyor/conveyor.cfg (GNUInstallDirs). The built-in defaults
 * name the repository's copies relative to the working directory; these
 * functions find the installed copies when those do not exist.
 */
#ifndef CV_PATHS_H
#define CV_PATHS_H

/* "0.1.0": the project version CMake was given. */
const char *cv_version(void);

/*
 * The installed copy of a data file or directory, rel being its path in
 * the repository ("schemas", "topology/marketplace.cfg"): looked for
 * relative to the running binary (bin/../share/conveyor/rel), then in the
 * data directory the build was configured for. Returns a fresh absolute
 * path the caller frees, or NULL if there is no installed copy.
 */
char *cv_paths_installed_data(const char *rel);

/* The installed etc/conveyor/conveyor.cfg, found the same way; a fresh
 * path the caller frees, or NULL. */
char *cv_paths_installed_config(void);

struct cv_config;
/*
 * schemas.dir and topology.path left at their built-in defaults, when those
 * do not exist from the working directory: the installed copies, if any
 * (cv_config_origin() then says "the installed default"). A path the file
 * or the environment gave is never replaced: a missing one is an error.
 */
void cv_paths_installed_defaults(struct cv_config *cfg);

/* The directory of the running binary (fresh, caller frees), or NULL. */
char *cv_paths_exe_dir(void);

#endif
