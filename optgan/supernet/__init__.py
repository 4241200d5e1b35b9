"""③ How a genotype becomes a network: ops, cells, SuperNet G/D, standalone networks.

Supernets hold one module per (cell, edge, candidate op) and run one path per call
(``SuperNetG(z, genotype)``, ``SuperNetD(x, genotype)``); standalone networks are built from
the same op and cell modules with only the genotype's ops, under the same module names, so
:func:`extract_subnet` copies a subnet out by state-dict keys. :func:`set_op_forms` switches three
ops of a built network to exactly equivalent forms (:mod:`optgan.supernet.op_forms`); the 1×1 convs
of upsampled inputs always run before the upsampling (:class:`UpsampledConv2d`, the same function
for less work; :func:`set_upsample_first` restores the reference order).
"""

from optgan.supernet.discriminator import (
    StandaloneD,
    SuperNetD,
    build_discriminator,
    build_supernet_d,
)
from optgan.supernet.extract import (
    clone_module,
    copy_subnet_weights,
    extract_subnet,
    load_subnet_into_supernet,
)
from optgan.supernet.flops import count_macs, count_parameters, network_macs
from optgan.supernet.generator import StandaloneG, SuperNetG, build_generator, build_supernet_g
from optgan.supernet.init import INIT_KINDS, init_weights, seeded, set_channels_last
from optgan.supernet.op_forms import OP_FORMS, set_op_forms
from optgan.supernet.ops import UpsampledConv2d, set_upsample_first
from optgan.supernet.simple_disc import SimpleDiscriminator, build_simple_discriminator

__all__ = [
    "StandaloneD", "SuperNetD", "build_discriminator", "build_supernet_d",
    "clone_module", "copy_subnet_weights", "extract_subnet", "load_subnet_into_supernet",
    "count_macs", "count_parameters", "network_macs",
    "StandaloneG", "SuperNetG", "build_generator", "build_supernet_g",
    "INIT_KINDS", "init_weights", "seeded", "set_channels_last",
    "OP_FORMS", "set_op_forms", "UpsampledConv2d", "set_upsample_first",
    "SimpleDiscriminator", "build_simple_discriminator",
]
