/** Where vtepctl asks, and vtepd listens, unless told otherwise. */
export const DEFAULT_SOCKET = '/run/vtepd.sock';
/** Where the systemd unit puts the socket (RuntimeDirectory=vtepd); vtepctl asks there when the first is absent. */
export const SERVICE_SOCKET = '/run/vtepd/vtepd.sock';
