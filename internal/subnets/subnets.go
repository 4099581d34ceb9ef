// Package subnets is the subnet plan of an environment (LLD 2.2.2), computed with the same
// arithmetic as Terraform's cidrsubnet and cidrsubnets functions so that `cso env show`
// says exactly what the networking module will create:
//
//	public  = cidrsubnets(cidrsubnet(vpc_cidr, 1, 0), 1, 1)
//	private = cidrsubnets(cidrsubnet(vpc_cidr, 1, 1), 1, 1)
//
// Element i of each list is in availability_zones[i].
package subnets

import (
	"fmt"
	"math/big"
	"net/netip"
)

// Tier names.
const (
	Public  = "public"
	Private = "private"
)

// Subnet is one subnet of the plan.
type Subnet struct {
	Tier  string `json:"tier"`
	Index int    `json:"index"`
	AZ    string `json:"availability_zone"`
	CIDR  string `json:"cidr"`
	// Usable is the number of addresses left for hosts: AWS reserves five per subnet.
	Usable int `json:"usable_addresses"`
}

// CIDRSubnet is Terraform's cidrsubnet(prefix, newbits, netnum) for IPv4 and IPv6.
func CIDRSubnet(prefix netip.Prefix, newbits int, netnum uint64) (netip.Prefix, error) {
	prefix = prefix.Masked()
	bits := prefix.Bits() + newbits
	if newbits < 0 || bits > prefix.Addr().BitLen() {
		return netip.Prefix{}, fmt.Errorf("cidrsubnet(%s, %d, %d): insufficient address space to extend prefix by %d bits", prefix, newbits, netnum, newbits)
	}
	if newbits < 64 && netnum >= uint64(1)<<newbits {
		return netip.Prefix{}, fmt.Errorf("cidrsubnet(%s, %d, %d): prefix extension of %d does not accommodate a subnet numbered %d", prefix, newbits, netnum, newbits, netnum)
	}
	base := new(big.Int).SetBytes(prefix.Addr().AsSlice())
	shift := uint(prefix.Addr().BitLen() - bits)
	base.Or(base, new(big.Int).Lsh(new(big.Int).SetUint64(netnum), shift))
	buf := base.FillBytes(make([]byte, prefix.Addr().BitLen()/8))
	addr, _ := netip.AddrFromSlice(buf)
	return netip.PrefixFrom(addr, bits), nil
}

// CIDRSubnets is Terraform's cidrsubnets(prefix, newbits...): consecutive, non-overlapping
// subnets, each aligned to its own size.
func CIDRSubnets(prefix netip.Prefix, newbits ...int) ([]netip.Prefix, error) {
	prefix = prefix.Masked()
	out := make([]netip.Prefix, 0, len(newbits))
	total := prefix.Addr().BitLen()
	next := new(big.Int).SetBytes(prefix.Addr().AsSlice())
	end := new(big.Int).Add(next, new(big.Int).Lsh(big.NewInt(1), uint(total-prefix.Bits())))
	for _, nb := range newbits {
		bits := prefix.Bits() + nb
		if nb < 1 || bits > total {
			return nil, fmt.Errorf("cidrsubnets(%s): would extend prefix to %d bits, which is too long for an IPv%d address", prefix, bits, map[int]int{32: 4, 128: 6}[total])
		}
		size := new(big.Int).Lsh(big.NewInt(1), uint(total-bits))
		// Align the next start to this subnet's size.
		rem := new(big.Int).Mod(next, size)
		if rem.Sign() != 0 {
			next.Add(next, new(big.Int).Sub(size, rem))
		}
		if new(big.Int).Add(next, size).Cmp(end) > 0 {
			return nil, fmt.Errorf("cidrsubnets(%s): not enough remaining address space for a subnet with a prefix of %d bits", prefix, bits)
		}
		addr, _ := netip.AddrFromSlice(next.FillBytes(make([]byte, total/8)))
		out = append(out, netip.PrefixFrom(addr, bits))
		next.Add(next, size)
	}
	return out, nil
}

// Plan returns the four subnets of a VPC: public then private, each in zone order.
func Plan(vpcCIDR string, zones []string) ([]Subnet, error) {
	vpc, err := netip.ParsePrefix(vpcCIDR)
	if err != nil {
		return nil, fmt.Errorf("vpc_cidr %q: %w", vpcCIDR, err)
	}
	var out []Subnet
	for half, tier := range []string{Public, Private} {
		h, err := CIDRSubnet(vpc, 1, uint64(half))
		if err != nil {
			return nil, err
		}
		list, err := CIDRSubnets(h, 1, 1)
		if err != nil {
			return nil, err
		}
		for i, p := range list {
			s := Subnet{Tier: tier, Index: i, CIDR: p.String(), Usable: 1<<(32-p.Bits()) - 5}
			if i < len(zones) {
				s.AZ = zones[i]
			}
			out = append(out, s)
		}
	}
	return out, nil
}
