"""boto3 against cairn's TCP listener, driven by tests/it/api/*.rs.

Usage: boto3_client.py STEP ENDPOINT REGION KEY_ID SECRET [STATE_JSON]

Each step prints one JSON object on stdout; a failed check raises, so the
script exits non-zero with the reason on stderr. The Rust side starts the
server, checks DNS between steps and asserts on what is printed. Nothing
here but the endpoint differs from talking to AWS.
"""

import datetime
import json
import random
import re
import socket
import struct
import sys
import urllib.error
import urllib.request
import uuid

import boto3
import botocore.auth
import botocore.awsrequest
import botocore.config
import botocore.credentials
import botocore.exceptions

STEP, ENDPOINT, REGION, KEY_ID, SECRET = sys.argv[1:6]
STATE = json.loads(sys.argv[6]) if len(sys.argv) > 6 else {}
VERIFY = STATE.get("ca_bundle", True)
ACCOUNT = STATE.get("account_id", "000000000000")
HOSTED_ZONE_ID = re.compile(r"^Z[A-Z2-7]{20}$")


def arn(kind, resource_id):
    """The ARN AWS would give: the signed region and the account."""
    return f"arn:aws:servicediscovery:{REGION}:{ACCOUNT}:{kind}/{resource_id}"


def client(key_id=KEY_ID, secret=SECRET, inject_host_prefix=False):
    return boto3.session.Session().client(
        "servicediscovery",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        verify=VERIFY,
        config=botocore.config.Config(
            # A refusal must show as the server's error, not be retried.
            retries={"max_attempts": 1, "mode": "standard"},
            inject_host_prefix=inject_host_prefix,
        ),
    )


def token():
    return str(uuid.uuid4())


def succeeded(sd, operation_id):
    operation = sd.get_operation(OperationId=operation_id)["Operation"]
    assert operation["Status"] == "SUCCESS", operation
    return operation


def error_code(call):
    try:
        call()
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"]
    raise AssertionError("the call succeeded but should have been refused")


def setup():
    """Namespaces of each kind, a service, three instances: the state
    before DNS is checked."""
    sd = client()
    private = sd.create_private_dns_namespace(
        Name="flow.test", Vpc="vpc-0123456789abcdef0", CreatorRequestId=token(),
        Description="boto3 flow",
    )
    namespace_id = succeeded(sd, private["OperationId"])["Targets"]["NAMESPACE"]
    public = sd.create_public_dns_namespace(Name="public-flow.test", CreatorRequestId=token())
    public_id = succeeded(sd, public["OperationId"])["Targets"]["NAMESPACE"]
    http = sd.create_http_namespace(Name="flow-http", CreatorRequestId=token())
    http_id = succeeded(sd, http["OperationId"])["Targets"]["NAMESPACE"]
    namespace = sd.get_namespace(Id=namespace_id)["Namespace"]
    assert namespace["Type"] == "DNS_PRIVATE", namespace
    assert namespace["Name"] == "flow.test", namespace
    assert namespace["Arn"] == arn("namespace", namespace_id), namespace
    assert namespace["ResourceOwner"] == ACCOUNT, namespace
    zone_id = namespace["Properties"]["DnsProperties"]["HostedZoneId"]
    assert HOSTED_ZONE_ID.match(zone_id), namespace
    # Derived, so the same on every read (and by ARN).
    by_arn = sd.get_namespace(Id=namespace["Arn"])["Namespace"]
    assert by_arn["Properties"]["DnsProperties"]["HostedZoneId"] == zone_id, by_arn
    public_zone = sd.get_namespace(Id=public_id)["Namespace"]["Properties"]["DnsProperties"]
    assert HOSTED_ZONE_ID.match(public_zone["HostedZoneId"]), public_zone
    assert public_zone["HostedZoneId"] != zone_id, public_zone
    http_properties = sd.get_namespace(Id=http_id)["Namespace"]["Properties"]
    assert "HostedZoneId" not in http_properties.get("DnsProperties", {}), http_properties
    service = sd.create_service(
        Name="web",
        NamespaceId=namespace_id,
        CreatorRequestId=token(),
        Description="web servers",
        DnsConfig={
            "RoutingPolicy": "MULTIVALUE",
            "DnsRecords": [{"Type": "A", "TTL": 10}, {"Type": "SRV", "TTL": 10}],
        },
        HealthCheckCustomConfig={"FailureThreshold": 1},
    )["Service"]
    assert service["Arn"] == arn("service", service["Id"]), service
    assert service["ResourceOwner"] == ACCOUNT, service
    assert service["CreatedByAccount"] == ACCOUNT, service
    for index in (1, 2, 3):
        registered = sd.register_instance(
            ServiceId=service["Id"],
            InstanceId=f"web-{index}",
            CreatorRequestId=token(),
            Attributes={
                "AWS_INSTANCE_IPV4": f"10.0.0.{index}",
                "AWS_INSTANCE_PORT": "8080",
                "zone": "a" if index < 3 else "b",
            },
        )
        succeeded(sd, registered["OperationId"])
    print(json.dumps({
        "namespace_id": namespace_id,
        "public_id": public_id,
        "http_id": http_id,
        "service_id": service["Id"],
        "service_arn": service["Arn"],
    }))


def finish():
    """Discovery, paging, health, updates, tags, then everything deleted."""
    sd = client()
    service_id = STATE["service_id"]
    found = sd.discover_instances(NamespaceName="flow.test", ServiceName="web")["Instances"]
    assert sorted(i["InstanceId"] for i in found) == ["web-1", "web-2", "web-3"], found
    zone_b = sd.discover_instances(
        NamespaceName="flow.test", ServiceName="web", QueryParameters={"zone": "b"}
    )["Instances"]
    assert [i["InstanceId"] for i in zone_b] == ["web-3"], zone_b

    first = sd.list_instances(ServiceId=service_id, MaxResults=2)
    assert len(first["Instances"]) == 2 and "NextToken" in first, first
    rest = sd.list_instances(ServiceId=service_id, MaxResults=2, NextToken=first["NextToken"])
    assert len(rest["Instances"]) == 1 and "NextToken" not in rest, rest
    paged = [
        instance["Id"]
        for page in sd.get_paginator("list_instances").paginate(
            ServiceId=service_id, PaginationConfig={"PageSize": 1}
        )
        for instance in page["Instances"]
    ]
    assert sorted(paged) == ["web-1", "web-2", "web-3"], paged

    sd.update_instance_custom_health_status(
        ServiceId=service_id, InstanceId="web-1", Status="UNHEALTHY"
    )
    health = sd.get_instances_health_status(ServiceId=service_id)["Status"]
    assert health["web-1"] == "UNHEALTHY" and health["web-2"] == "HEALTHY", health
    healthy = sd.discover_instances(
        NamespaceName="flow.test", ServiceName="web", HealthStatus="HEALTHY"
    )["Instances"]
    assert sorted(i["InstanceId"] for i in healthy) == ["web-2", "web-3"], healthy

    updated = sd.update_service(
        Id=service_id,
        Service={
            "Description": "updated by boto3",
            "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 30}, {"Type": "SRV", "TTL": 30}]},
        },
    )
    succeeded(sd, updated["OperationId"])
    service = sd.get_service(Id=service_id)["Service"]
    assert service["Description"] == "updated by boto3", service
    assert service["DnsConfig"]["DnsRecords"][0]["TTL"] == 30, service

    arn = STATE["service_arn"]
    sd.tag_resource(ResourceARN=arn, Tags=[{"Key": "team", "Value": "dns"}])
    tags = sd.list_tags_for_resource(ResourceARN=arn)["Tags"]
    assert tags == [{"Key": "team", "Value": "dns"}], tags
    sd.untag_resource(ResourceARN=arn, TagKeys=["team"])
    assert sd.list_tags_for_resource(ResourceARN=arn)["Tags"] == []

    # RegisterInstance again with a new token updates in place (Terraform's
    # update path).
    again = sd.register_instance(
        ServiceId=service_id, InstanceId="web-2", CreatorRequestId=token(),
        Attributes={"AWS_INSTANCE_IPV4": "10.0.0.22", "AWS_INSTANCE_PORT": "8080"},
    )
    succeeded(sd, again["OperationId"])
    instance = sd.get_instance(ServiceId=service_id, InstanceId="web-2")["Instance"]
    assert instance["Attributes"]["AWS_INSTANCE_IPV4"] == "10.0.0.22", instance
    assert instance["CreatedByAccount"] == ACCOUNT, instance
    assert sd.list_instances(ServiceId=service_id)["ResourceOwner"] == ACCOUNT

    service_attributes(sd, service_id, arn)
    updater_request_id(sd, STATE["http_id"])

    for index in (1, 2, 3):
        gone = sd.deregister_instance(ServiceId=service_id, InstanceId=f"web-{index}")
        succeeded(sd, gone["OperationId"])
    assert sd.list_instances(ServiceId=service_id)["Instances"] == []
    sd.delete_service(Id=service_id)
    assert error_code(lambda: sd.get_service(Id=service_id)) == "ServiceNotFound"
    for key in ("namespace_id", "public_id", "http_id"):
        deleted = sd.delete_namespace(Id=STATE[key])
        succeeded(sd, deleted["OperationId"])
    assert sd.list_namespaces()["Namespaces"] == [], sd.list_namespaces()
    print(json.dumps({"finished": True}))


def service_attributes(sd, service_id, service_arn):
    """Get/Update/DeleteServiceAttributes, by id and by ARN, with the quota
    of 30 refused and nothing changed."""
    empty = sd.get_service_attributes(ServiceId=service_id)["ServiceAttributes"]
    assert empty["ServiceArn"] == service_arn, empty
    assert empty["ResourceOwner"] == ACCOUNT, empty
    assert empty.get("Attributes", {}) == {}, empty
    sd.update_service_attributes(ServiceId=service_id, Attributes={"team": "dns", "tier": "1"})
    sd.update_service_attributes(ServiceId=service_arn, Attributes={"tier": "2"})
    got = sd.get_service_attributes(ServiceId=service_arn)["ServiceAttributes"]["Attributes"]
    assert got == {"team": "dns", "tier": "2"}, got
    too_many = {f"k{i}": "v" for i in range(29)}
    code = error_code(
        lambda: sd.update_service_attributes(ServiceId=service_id, Attributes=too_many)
    )
    assert code == "ServiceAttributesLimitExceededException", code
    got = sd.get_service_attributes(ServiceId=service_id)["ServiceAttributes"]["Attributes"]
    assert got == {"team": "dns", "tier": "2"}, got
    bad = error_code(
        lambda: sd.update_service_attributes(ServiceId=service_id, Attributes={"a key": "v"})
    )
    assert bad == "InvalidInput", bad
    missing = error_code(
        lambda: sd.get_service_attributes(ServiceId="srv-doesnotexist0000")
    )
    assert missing == "ServiceNotFound", missing
    sd.delete_service_attributes(ServiceId=service_id, Attributes=["team", "absent"])
    got = sd.get_service_attributes(ServiceId=service_id)["ServiceAttributes"]["Attributes"]
    assert got == {"tier": "2"}, got


def updater_request_id(sd, namespace_id):
    """A repeated Update*Namespace with the same UpdaterRequestId is the
    same operation and changes nothing; a new token is a new update."""
    same = token()
    first = sd.update_http_namespace(
        Id=namespace_id, UpdaterRequestId=same, Namespace={"Description": "first"}
    )["OperationId"]
    sd.update_http_namespace(
        Id=namespace_id, UpdaterRequestId=token(), Namespace={"Description": "second"}
    )
    again = sd.update_http_namespace(
        Id=namespace_id, UpdaterRequestId=same, Namespace={"Description": "first"}
    )["OperationId"]
    assert again == first, (first, again)
    namespace = sd.get_namespace(Id=namespace_id)["Namespace"]
    assert namespace["Description"] == "second", namespace


def terraform():
    """terraform-provider-aws's calls for aws_service_discovery_* resources,
    in its order: create, wait on GetOperation, read (Get*, tags), update
    (UpdateHttpNamespace with an UpdaterRequestId; RegisterInstance again
    with a new CreatorRequestId), delete."""
    sd = client()

    def wait(operation_id):
        # waitOperationSucceeded: GetOperation until SUCCESS.
        return succeeded(sd, operation_id)

    created = sd.create_private_dns_namespace(
        Name="tf.test", Vpc="vpc-0123456789abcdef0", CreatorRequestId=token(),
        Description="managed by Terraform", Tags=[{"Key": "owner", "Value": "tf"}],
    )
    namespace_id = wait(created["OperationId"])["Targets"]["NAMESPACE"]
    namespace = sd.get_namespace(Id=namespace_id)["Namespace"]
    # What the resource stores: arn, hosted_zone, name.
    assert namespace["Arn"] == arn("namespace", namespace_id), namespace
    assert HOSTED_ZONE_ID.match(namespace["Properties"]["DnsProperties"]["HostedZoneId"])
    tags = sd.list_tags_for_resource(ResourceARN=namespace["Arn"])["Tags"]
    assert tags == [{"Key": "owner", "Value": "tf"}], tags

    http = sd.create_http_namespace(Name="tf-http", CreatorRequestId=token())
    http_id = wait(http["OperationId"])["Targets"]["NAMESPACE"]
    change = token()
    updated = sd.update_http_namespace(
        Id=http_id, UpdaterRequestId=change, Namespace={"Description": "v2"}
    )
    wait(updated["OperationId"])
    retried = sd.update_http_namespace(
        Id=http_id, UpdaterRequestId=change, Namespace={"Description": "v2"}
    )
    assert retried["OperationId"] == updated["OperationId"], (updated, retried)
    assert sd.get_namespace(Id=http_id)["Namespace"]["Description"] == "v2"

    service = sd.create_service(
        Name="api", NamespaceId=namespace_id, CreatorRequestId=token(),
        DnsConfig={"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 60}]},
        HealthCheckCustomConfig={"FailureThreshold": 1},
        Tags=[{"Key": "owner", "Value": "tf"}],
    )["Service"]
    read = sd.get_service(Id=service["Id"])["Service"]
    assert read["Arn"] == arn("service", service["Id"]), read
    assert sd.list_tags_for_resource(ResourceARN=read["Arn"])["Tags"] == [
        {"Key": "owner", "Value": "tf"}
    ]

    registered = sd.register_instance(
        ServiceId=service["Id"], InstanceId="i-1", CreatorRequestId=token(),
        Attributes={"AWS_INSTANCE_IPV4": "10.1.0.1"},
    )
    wait(registered["OperationId"])
    instance = sd.get_instance(ServiceId=service["Id"], InstanceId="i-1")["Instance"]
    assert instance["Attributes"] == {"AWS_INSTANCE_IPV4": "10.1.0.1"}, instance
    # The resource's update: RegisterInstance again with a new token.
    again = sd.register_instance(
        ServiceId=service["Id"], InstanceId="i-1", CreatorRequestId=token(),
        Attributes={"AWS_INSTANCE_IPV4": "10.1.0.2", "env": "prod"},
    )
    wait(again["OperationId"])
    instance = sd.get_instance(ServiceId=service["Id"], InstanceId="i-1")["Instance"]
    assert instance["Attributes"] == {"AWS_INSTANCE_IPV4": "10.1.0.2", "env": "prod"}, instance
    print(json.dumps({"namespace_id": namespace_id, "http_id": http_id,
                      "service_id": service["Id"]}))


def terraform_destroy():
    sd = client()
    gone = sd.deregister_instance(ServiceId=STATE["service_id"], InstanceId="i-1")
    succeeded(sd, gone["OperationId"])
    sd.delete_service(Id=STATE["service_id"])
    for key in ("namespace_id", "http_id"):
        succeeded(sd, sd.delete_namespace(Id=STATE[key])["OperationId"])
    print(json.dumps({"namespaces": len(sd.list_namespaces()["Namespaces"])}))


def externaldns():
    """ExternalDNS's aws-sd provider, in its order: ListNamespaces with a
    TYPE filter, ListServices with NAMESPACE_ID, DiscoverInstances without
    MaxResults, CreateService/UpdateService with a Description (its owner
    label), RegisterInstance/DeregisterInstance. STATE names a private
    namespace that exists."""
    sd = client()
    namespaces = [
        namespace
        for page in sd.get_paginator("list_namespaces").paginate(
            Filters=[{"Name": "TYPE", "Values": ["DNS_PRIVATE"], "Condition": "EQ"}]
        )
        for namespace in page["Namespaces"]
    ]
    assert [n["Name"] for n in namespaces] == ["edns.test"], namespaces
    namespace_id = namespaces[0]["Id"]
    services = [
        service
        for page in sd.get_paginator("list_services").paginate(
            Filters=[{"Name": "NAMESPACE_ID", "Values": [namespace_id], "Condition": "EQ"}],
            PaginationConfig={"PageSize": 100},
        )
        for service in page["Services"]
    ]
    assert services == [], services
    owner = 'heritage=external-dns,external-dns/owner=default'
    service = sd.create_service(
        Name="app", NamespaceId=namespace_id, Description=owner,
        DnsConfig={"RoutingPolicy": "MULTIVALUE", "DnsRecords": [{"Type": "A", "TTL": 300}]},
    )["Service"]
    for index in range(120):
        sd.register_instance(
            ServiceId=service["Id"], InstanceId=f"10.2.{index // 250}.{index % 250 + 1}",
            Attributes={"AWS_INSTANCE_IPV4": f"10.2.{index // 250}.{index % 250 + 1}"},
        )
    found = sd.discover_instances(NamespaceName="edns.test", ServiceName="app")["Instances"]
    assert len(found) == 100, len(found)
    services = sd.list_services(
        Filters=[{"Name": "NAMESPACE_ID", "Values": [namespace_id], "Condition": "EQ"}],
        MaxResults=100,
    )["Services"]
    assert [s["Description"] for s in services] == [owner], services
    updated = sd.update_service(
        Id=service["Id"],
        Service={"Description": owner, "DnsConfig": {"DnsRecords": [{"Type": "A", "TTL": 60}]}},
    )
    succeeded(sd, updated["OperationId"])
    for index in range(119):
        sd.deregister_instance(
            ServiceId=service["Id"], InstanceId=f"10.2.{index // 250}.{index % 250 + 1}"
        )
    found = sd.discover_instances(NamespaceName="edns.test", ServiceName="app")["Instances"]
    print(json.dumps({
        "left": [i["InstanceId"] for i in found],
        "ttl": sd.get_service(Id=service["Id"])["Service"]["DnsConfig"]["DnsRecords"][0]["TTL"],
    }))


def signed(target, body, key_id=KEY_ID, secret=SECRET, when=None):
    """A request signed by botocore's own SigV4 signer, as boto3 sends it;
    `when` moves the signing clock."""
    request = botocore.awsrequest.AWSRequest(
        method="POST",
        url=ENDPOINT + "/",
        data=body.encode(),
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": f"Route53AutoNaming_v20170314.{target}",
        },
    )
    signer = botocore.auth.SigV4Auth(
        botocore.credentials.Credentials(key_id, secret), "servicediscovery", REGION
    )
    if when is None:
        signer.add_auth(request)
    else:
        original = botocore.auth.get_current_datetime
        botocore.auth.get_current_datetime = lambda: when
        try:
            signer.add_auth(request)
        finally:
            botocore.auth.get_current_datetime = original
    return request


def send(request, body=None, headers=None):
    """Sends a prepared request, optionally with a changed body or headers;
    returns (status, error name)."""
    prepared = request.prepare()
    sent_headers = dict(prepared.headers)
    for name, value in (headers or {}).items():
        if value is None:
            sent_headers.pop(name, None)
        else:
            sent_headers[name] = value
    data = prepared.body if body is None else body.encode()
    outgoing = urllib.request.Request(prepared.url, data=data, headers=sent_headers, method="POST")
    try:
        with urllib.request.urlopen(outgoing, timeout=15) as reply:
            return reply.status, None
    except urllib.error.HTTPError as error:
        payload = json.loads(error.read() or b"{}")
        return error.code, payload.get("__type")


def auth():
    """Each way a request can fail to authenticate, as (status, error)."""
    create = json.dumps({"Name": "tampered", "CreatorRequestId": token()})
    now = datetime.datetime.now(datetime.timezone.utc).replace(tzinfo=None)
    results = {
        "good": send(signed("ListNamespaces", "{}")),
        "wrong_secret": send(signed("CreateHttpNamespace", create, secret="not-the-secret")),
        "unknown_key": send(signed("CreateHttpNamespace", create, key_id="AKIDNOBODY")),
        "expired": send(
            signed("CreateHttpNamespace", create, when=now - datetime.timedelta(minutes=10))
        ),
        "future": send(
            signed("CreateHttpNamespace", create, when=now + datetime.timedelta(minutes=10))
        ),
        "tampered_body": send(
            signed("CreateHttpNamespace", create),
            body=json.dumps({"Name": "tampered-too", "CreatorRequestId": token()}),
        ),
        "tampered_target": send(
            signed("ListNamespaces", create),
            headers={"X-Amz-Target": "Route53AutoNaming_v20170314.CreateHttpNamespace"},
        ),
        "tampered_host": send(
            signed("CreateHttpNamespace", create), headers={"Host": "data-elsewhere:1"}
        ),
        "missing_header": send(
            signed("CreateHttpNamespace", create), headers={"Authorization": None}
        ),
        "malformed_header": send(
            signed("CreateHttpNamespace", create),
            headers={"Authorization": "AWS4-HMAC-SHA256 Credential=broken"},
        ),
    }
    # Through boto3 itself, as an application sees it.
    results["boto3_wrong_secret"] = error_code(
        lambda: client(secret="not-the-secret").create_http_namespace(Name="tampered")
    )
    results["boto3_unknown_key"] = error_code(
        lambda: client(key_id="AKIDNOBODY").list_namespaces()
    )
    results["namespaces_after"] = [
        namespace["Name"] for namespace in client().list_namespaces()["Namespaces"]
    ]
    print(json.dumps(results))


def scoped():
    """What a scoped key may and may not do, as error names (None: allowed).
    STATE names the other key and a service in each namespace."""
    reader = client(STATE["reader_id"], STATE["reader_secret"])
    writer = client()
    results = {
        "reader_list": error_code_or_none(lambda: reader.list_namespaces()),
        "reader_discover": error_code_or_none(
            lambda: reader.discover_instances(NamespaceName="svc.test", ServiceName="web")
        ),
        "reader_register": error_code_or_none(
            lambda: reader.register_instance(
                ServiceId=STATE["web_id"], InstanceId="intruder",
                Attributes={"AWS_INSTANCE_IPV4": "10.9.9.9"},
            )
        ),
        "reader_deregister": error_code_or_none(
            lambda: reader.deregister_instance(ServiceId=STATE["web_id"], InstanceId="web-1")
        ),
        "writer_register_own": error_code_or_none(
            lambda: writer.register_instance(
                ServiceId=STATE["web_id"], InstanceId="web-2",
                Attributes={"AWS_INSTANCE_IPV4": "10.0.0.2", "AWS_INSTANCE_PORT": "80"},
            )
        ),
        "writer_register_other": error_code_or_none(
            lambda: writer.register_instance(
                ServiceId=STATE["other_id"], InstanceId="intruder",
                Attributes={"AWS_INSTANCE_IPV4": "10.9.9.9"},
            )
        ),
        "writer_discover_other": error_code_or_none(
            lambda: writer.discover_instances(NamespaceName="other.test", ServiceName="web")
        ),
        "writer_delete_other_namespace": error_code_or_none(
            lambda: writer.delete_namespace(Id=STATE["other_namespace_id"])
        ),
        "writer_create_namespace": error_code_or_none(
            lambda: writer.create_http_namespace(Name="sneaky")
        ),
        "writer_list_namespaces": sorted(
            n["Name"] for n in writer.list_namespaces()["Namespaces"]
        ),
    }
    print(json.dumps(results))


def error_code_or_none(call):
    try:
        call()
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"]
    return None


RESOLVED = []


def resolve_through_cairn(server, suffix):
    """Names ending in `suffix` are looked up with an A query to cairn's DNS
    at `server` ("ip:port"), as a host whose resolver is cairn would; the
    rest as usual. Each name looked up is kept in RESOLVED."""
    dns_ip, dns_port = server.rsplit(":", 1)
    system_getaddrinfo = socket.getaddrinfo

    def a_records(name):
        query_id = random.randrange(1 << 16)
        question = b"".join(
            bytes([len(label)]) + label.encode() for label in name.rstrip(".").split(".")
        )
        query = struct.pack(">HHHHHH", query_id, 0x0100, 1, 0, 0, 0) + question + b"\0\0\1\0\1"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.settimeout(2)
            udp.sendto(query, (dns_ip, int(dns_port)))
            reply = udp.recv(4096)
        answered_id, flags, _, count = struct.unpack(">HHHH", reply[:8])
        assert answered_id == query_id and flags & 0xF == 0, f"{name}: rcode {flags & 0xF}"
        def after_name(at):
            while reply[at] and not reply[at] & 0xC0:
                at += 1 + reply[at]
            return at + (2 if reply[at] else 1)

        at = 12 + len(question) + 5
        addresses = []
        for _ in range(count):
            at = after_name(at)
            rtype, _, _, length = struct.unpack(">HHIH", reply[at : at + 10])
            at += 10
            if rtype == 1:
                addresses.append(socket.inet_ntoa(reply[at : at + length]))
            at += length
        return addresses

    def getaddrinfo(host, port, *args, **kwargs):
        if not isinstance(host, str) or not host.endswith(suffix):
            return system_getaddrinfo(host, port, *args, **kwargs)
        RESOLVED.append(host)
        addresses = a_records(host)
        if not addresses:
            raise socket.gaierror(socket.EAI_NONAME, f"cairn has no address for {host}")
        return [
            (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, int(port)))
            for address in addresses
        ]

    socket.getaddrinfo = getaddrinfo


def prefix():
    """DiscoverInstances with the SDK's `data-` host prefix left on: the
    endpoint's host is a name the client resolves through cairn."""
    resolve_through_cairn(STATE["dns"], STATE["suffix"])
    sd = client(inject_host_prefix=True)
    found = sd.discover_instances(NamespaceName="svc.test", ServiceName="web")["Instances"]
    revision = sd.discover_instances_revision(NamespaceName="svc.test", ServiceName="web")
    listed = sd.list_instances(ServiceId=STATE["service_id"])["Instances"]
    print(
        json.dumps(
            {
                "instances": sorted(i["InstanceId"] for i in found),
                "revision": revision["InstancesRevision"],
                "listed": sorted(i["Id"] for i in listed),
                "resolved": sorted(set(RESOLVED)),
            }
        )
    )


{
    "setup": setup,
    "finish": finish,
    "auth": auth,
    "scoped": scoped,
    "prefix": prefix,
    "terraform": terraform,
    "terraform_destroy": terraform_destroy,
    "externaldns": externaldns,
}[STEP]()
