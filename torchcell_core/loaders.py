"""Every registered source's loader, by registry key: the measurement tables of `sources.load` and the gene
networks of `networks.load`. It sits above both packages, so `sources` (the lower layer, whose parsing rules the
network parsers use) never imports `networks`."""

from torchcell_core.networks.load import load_biogrid, load_regulatory, load_string
from torchcell_core.sources.load import Loader, load_costanzo2016, load_kuzmin2018, load_kuzmin2020

LOADERS: dict[str, Loader] = {
    "costanzo2016": load_costanzo2016,
    "kuzmin2018": load_kuzmin2018,
    "kuzmin2020": load_kuzmin2020,
    "string_v9_1": load_string,
    "string_v11_0": load_string,
    "string_v12_0": load_string,
    "biogrid": load_biogrid,
    "regulatory": load_regulatory,
}
