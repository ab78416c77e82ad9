// JNDI's DNS provider asking cairn, as a Java application does, run as a
// single-file program by tests/it/resolvers/jndi.rs:
//   java Jndi.java dns://127.0.0.1:PORT NAME TYPE[,TYPE...] [NAME TYPES ...]
// For each lookup, prints "NAME TYPES" and then one line per attribute,
// "ID value | value", values and lines sorted; a name that does not exist
// prints "NameNotFound". (One JVM for every lookup: starting one costs
// seconds.)

import java.util.ArrayList;
import java.util.Collections;
import java.util.Hashtable;
import java.util.List;
import javax.naming.Context;
import javax.naming.NameNotFoundException;
import javax.naming.NamingEnumeration;
import javax.naming.directory.Attribute;
import javax.naming.directory.Attributes;
import javax.naming.directory.DirContext;
import javax.naming.directory.InitialDirContext;

public class Jndi {
    public static void main(String[] args) throws Exception {
        Hashtable<String, String> env = new Hashtable<>();
        env.put(Context.INITIAL_CONTEXT_FACTORY, "com.sun.jndi.dns.DnsContextFactory");
        env.put(Context.PROVIDER_URL, args[0]);
        env.put("com.sun.jndi.dns.timeout.initial", "2000");
        env.put("com.sun.jndi.dns.timeout.retries", "1");
        DirContext context = new InitialDirContext(env);
        for (int lookup = 1; lookup + 1 < args.length; lookup += 2) {
            System.out.println(args[lookup] + " " + args[lookup + 1]);
            print(context, args[lookup], args[lookup + 1].split(","));
        }
    }

    private static void print(DirContext context, String name, String[] types) throws Exception {
        Attributes attributes;
        try {
            attributes = context.getAttributes(name, types);
        } catch (NameNotFoundException notFound) {
            System.out.println("NameNotFound");
            return;
        }
        List<String> lines = new ArrayList<>();
        NamingEnumeration<? extends Attribute> all = attributes.getAll();
        while (all.hasMore()) {
            Attribute attribute = all.next();
            List<String> values = new ArrayList<>();
            for (int i = 0; i < attribute.size(); i++) {
                values.add(attribute.get(i).toString());
            }
            Collections.sort(values);
            lines.add(attribute.getID() + " " + String.join(" | ", values));
        }
        Collections.sort(lines);
        lines.forEach(System.out::println);
    }
}
