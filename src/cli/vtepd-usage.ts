// vtepd's usage, apart from the daemon's code so that the man page's generator can read it.
export const USAGE = `usage: vtepd --config FILE [--socket PATH] [--no-offload] [--busy-poll USEC] [--metrics ADDR:PORT]
                   [--user NAME] [--socket-group NAME] [--socket-mode MODE] [--socket-mutations owner|group]
                   [--log-format text|json] [--log-level debug|info|warning|error] [--verbose]
       vtepd --version
       vtepd --local IP --tap NAME (--vni N [--port N] | --geneve-vni N [--port N] [--geneve-option CLASS,TYPE,DATA]...
                                   | --gre-key N [--gre-csum] [--gre-seq] [--gre-socket packet|raw])
             [--remote IP]... [--group ADDR --dev IFACE [--group-ttl N]] [--allow IP]...
             [--address IP/LEN] [--mtu N] [--mac MAC] [--name NAME] [--ageing S]
             [--max-macs N] [--accept-any-remote] [--arp-responder] [--arp-snoop] [--no-learning] [--ttl N]
             [--df | --df-inherit] [--udp6-zero-csum-rx]
             [--evpn-asn N [--evpn-peer-as N|external] --evpn-neighbor IP... [--evpn-router-id IP] [--evpn-gobgp ADDR:PORT]]
             [--socket PATH] [--no-offload] [--busy-poll USEC] [--metrics ADDR:PORT] [--user NAME]
             [--socket-group NAME] [--socket-mode MODE] [--socket-mutations owner|group]
             [--log-format text|json] [--log-level LEVEL] [--verbose]

Runs a userspace VTEP in the foreground: TAP devices bridged over VXLAN, Geneve
or Ethernet-over-GRE with MAC learning and head-end replication. Stop it with
SIGINT or SIGTERM.`;
