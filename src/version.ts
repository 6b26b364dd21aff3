/** Kiln's version, as `kiln --version`, artifacts and the `kiln_version` template variable report it. */
export const KILN_VERSION = '0.1.0';
