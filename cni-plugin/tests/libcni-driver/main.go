// Command libcni-driver drives a CNI plugin through Debian's libcni 1.1.2 the
// way a runtime does: the list calls (AddNetworkList, CheckNetworkList,
// DelNetworkList) for one container, then the single-plugin calls
// (AddNetwork, CheckNetwork, DelNetwork) for a second one. It prints one line
// per call, "<CALL> ok" or "<CALL> error: <text>", and the ADD results as JSON.
//
// Usage: libcni-driver <conflist> <netns> <bin dir> <cache dir> <container id>
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/containernetworking/cni/libcni"
	"github.com/containernetworking/cni/pkg/types"
)

func main() {
	if len(os.Args) != 6 {
		fmt.Fprintln(os.Stderr, "usage: libcni-driver <conflist> <netns> <bin dir> <cache dir> <container id>")
		os.Exit(2)
	}
	conflist, netns, binDir, cacheDir, id := os.Args[1], os.Args[2], os.Args[3], os.Args[4], os.Args[5]
	list, err := libcni.ConfListFromFile(conflist)
	if err != nil {
		fail("load", err)
	}
	cni := libcni.NewCNIConfigWithCacheDir([]string{binDir}, cacheDir, nil)
	ctx := context.Background()
	rt := &libcni.RuntimeConf{ContainerID: id, NetNS: netns, IfName: "eth0"}

	res, err := cni.AddNetworkList(ctx, list, rt)
	report("AddNetworkList", res, err)
	report("CheckNetworkList", nil, cni.CheckNetworkList(ctx, list, rt))
	report("DelNetworkList", nil, cni.DelNetworkList(ctx, list, rt))

	single, err := singlePlugin(list)
	if err != nil {
		fail("single", err)
	}
	one := &libcni.RuntimeConf{ContainerID: id + "-single", NetNS: netns, IfName: "eth0"}
	res, err = cni.AddNetwork(ctx, single, one)
	report("AddNetwork", res, err)
	report("CheckNetwork", nil, cni.CheckNetwork(ctx, single, one))
	report("DelNetwork", nil, cni.DelNetwork(ctx, single, one))
}

// singlePlugin is the list's first plugin as a network config of its own.
func singlePlugin(list *libcni.NetworkConfigList) (*libcni.NetworkConfig, error) {
	return libcni.InjectConf(list.Plugins[0], map[string]interface{}{
		"name":       list.Name,
		"cniVersion": list.CNIVersion,
	})
}

func report(call string, res types.Result, err error) {
	if err != nil {
		fmt.Printf("%s error: %v\n", call, err)
		return
	}
	if res == nil {
		fmt.Printf("%s ok\n", call)
		return
	}
	out, jerr := json.Marshal(res)
	if jerr != nil {
		fail(call, jerr)
	}
	fmt.Printf("%s ok %s\n", call, out)
}

func fail(what string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", what, err)
	os.Exit(1)
}
