// The one rule for what a user name may be, shared by the client's User keyword and the server's
// account lookups, so that what tlssh sends is what tlsshd takes.

/**
 * The names an account may have here: what Debian's useradd makes, and what sssd and winbind
 * give directory users (alice@corp.example.com, 256 characters at most; a name may start with a
 * digit). Never a leading dash, dot or @, and never digits alone: getent would take the first
 * for an option and the last for a uid. Nothing a shell or a path treats specially.
 */
export const USER_NAME = /^(?=.{1,256}$)(?![0-9]+\$?$)[A-Za-z0-9_][A-Za-z0-9_.@-]*\$?$/;
