// Network-namespace plumbing for the guard. Why C: ioctl(2) is variadic (Swift cannot call it),
// the route structures (rtentry, in6_rtmsg) and SIOCGSKNS come from kernel headers with macros,
// and setns(2) needs _GNU_SOURCE. None of this runs between clone and exec.
#define _GNU_SOURCE
#include "shim_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <net/route.h>
#include <netinet/in.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

// The kernel's struct in6_rtmsg (linux/ipv6_route.h conflicts with glibc's netinet/in.h).
struct wd_in6_rtmsg {
    struct in6_addr rtmsg_dst;
    struct in6_addr rtmsg_src;
    struct in6_addr rtmsg_gateway;
    uint32_t rtmsg_type;
    uint16_t rtmsg_dst_len;
    uint16_t rtmsg_src_len;
    uint32_t rtmsg_metric;
    unsigned long rtmsg_info;
    uint32_t rtmsg_flags;
    int rtmsg_ifindex;
};

int wd_setns(int fd, int nstype) {
    return setns(fd, nstype);
}

static int close_keeping_errno(int sock, int rc) {
    int saved = errno;
    close(sock);
    errno = saved;
    return rc;
}

// Adds 192.0.0.8/32 (the IPv4 "dummy address", RFC 7600) to lo with global scope: without an
// address of global scope, connect() through the default route picks the source 0.0.0.0 and
// replies to the redirected connection never arrive. RTM_NEWADDR, because the address ioctls
// replace lo's 127.0.0.1 instead of adding beside it.
static int add_dummy_address(int ifindex) {
    int sock = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
    if (sock < 0) return -1;
    struct {
        struct nlmsghdr header;
        struct ifaddrmsg message;
        char attributes[64];
    } request;
    memset(&request, 0, sizeof request);
    request.header.nlmsg_len = NLMSG_LENGTH(sizeof(struct ifaddrmsg));
    request.header.nlmsg_type = RTM_NEWADDR;
    request.header.nlmsg_flags = NLM_F_REQUEST | NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK;
    request.header.nlmsg_seq = 1;
    request.message.ifa_family = AF_INET;
    request.message.ifa_prefixlen = 32;
    request.message.ifa_scope = RT_SCOPE_UNIVERSE;
    request.message.ifa_index = (unsigned)ifindex;
    uint32_t address = htonl(0xC0000008);
    unsigned short types[2] = {IFA_LOCAL, IFA_ADDRESS};
    for (int i = 0; i < 2; i++) {
        struct rtattr *attribute = (struct rtattr *)((char *)&request + NLMSG_ALIGN(request.header.nlmsg_len));
        attribute->rta_type = types[i];
        attribute->rta_len = RTA_LENGTH(sizeof address);
        memcpy(RTA_DATA(attribute), &address, sizeof address);
        request.header.nlmsg_len = NLMSG_ALIGN(request.header.nlmsg_len) + RTA_ALIGN(attribute->rta_len);
    }
    struct sockaddr_nl kernel;
    memset(&kernel, 0, sizeof kernel);
    kernel.nl_family = AF_NETLINK;
    if (sendto(sock, &request, request.header.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof kernel) < 0) return close_keeping_errno(sock, -1);
    char reply[512];
    ssize_t n;
    do { n = recv(sock, reply, sizeof reply, 0); } while (n < 0 && errno == EINTR);
    if (n < (ssize_t)NLMSG_LENGTH(sizeof(struct nlmsgerr))) return close_keeping_errno(sock, -1);
    struct nlmsghdr *answer = (struct nlmsghdr *)reply;
    if (answer->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *error = NLMSG_DATA(answer);
        if (error->error != 0 && error->error != -EEXIST) {
            close(sock);
            errno = -error->error;
            return -1;
        }
    }
    close(sock);
    return 0;
}

int wd_net_capture_routes(void) {
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock < 0) return -1;
    struct ifreq ifr;
    memset(&ifr, 0, sizeof ifr);
    memcpy(ifr.ifr_name, "lo", 3);
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) != 0) return close_keeping_errno(sock, -1);
    ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) != 0) return close_keeping_errno(sock, -1);
    int loopback = (int)if_nametoindex("lo");
    if (loopback == 0 || add_dummy_address(loopback) != 0) return close_keeping_errno(sock, -1);

    // IPv4: 0.0.0.0/0 dev lo. The route only has to exist: nftables redirects every packet
    // that takes it before it could go anywhere.
    struct rtentry route;
    memset(&route, 0, sizeof route);
    struct sockaddr_in *dst = (struct sockaddr_in *)&route.rt_dst;
    struct sockaddr_in *mask = (struct sockaddr_in *)&route.rt_genmask;
    dst->sin_family = AF_INET;
    mask->sin_family = AF_INET;
    route.rt_flags = RTF_UP;
    route.rt_dev = "lo";
    if (ioctl(sock, SIOCADDRT, &route) != 0 && errno != EEXIST) return close_keeping_errno(sock, -1);
    close(sock);

    int sock6 = socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    if (sock6 < 0) return -1;
    struct wd_in6_rtmsg route6;
    memset(&route6, 0, sizeof route6);
    route6.rtmsg_flags = RTF_UP;
    route6.rtmsg_metric = 1024;
    route6.rtmsg_ifindex = (int)if_nametoindex("lo");
    if (route6.rtmsg_ifindex == 0) return close_keeping_errno(sock6, -1);
    if (ioctl(sock6, SIOCADDRT, &route6) != 0 && errno != EEXIST) return close_keeping_errno(sock6, -1);
    close(sock6);
    return 0;
}

int wd_socket_netns_inode(int fd, uint64_t *inode) {
    int ns = ioctl(fd, SIOCGSKNS);
    if (ns < 0) return -1;
    struct stat st;
    int rc = fstat(ns, &st);
    int saved = errno;
    close(ns);
    if (rc != 0) {
        errno = saved;
        return -1;
    }
    *inode = (uint64_t)st.st_ino;
    return 0;
}

ssize_t wd_splice(int fd_in, int fd_out, size_t length, unsigned int flags) {
    return splice(fd_in, NULL, fd_out, NULL, length, flags);
}

int wd_pipe2(int fds[2], int flags) {
    return pipe2(fds, flags);
}

int wd_set_pipe_size(int fd, int size) {
    return fcntl(fd, F_SETPIPE_SZ, size);
}

int wd_accept4(int fd, int flags) {
    return accept4(fd, NULL, NULL, flags);
}
